"""Jinja2 for every generated text file. Model-supplied names are untrusted:
templates embed them with the ``py`` filter (a Python literal) or the
``sh`` filter (a single-quoted shell word), never raw."""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from edgec.resources import resource_path


def _py_literal(value: Any) -> str:
    return repr(value)


def markdown_code(value: Any) -> str:
    """Untrusted text as one Markdown code span that stays on its line and inside a table cell:
    line breaks shown as \\n, pipes escaped, delimited by more backticks than the text holds."""
    text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@cache
def _environment_at(directory: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = _py_literal
    env.filters["sh"] = shlex.quote
    env.filters["md"] = markdown_code
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=True)
    return env


def environment() -> jinja2.Environment:
    return _environment_at(str(resource_path("templates")))


def render(template: str, **context: Any) -> str:
    """``template`` from edgec's bundled templates/ directory."""
    return environment().get_template(template).render(**context)


def render_from(directory: Path, template: str, **context: Any) -> str:
    """``template`` from ``directory`` (a plugin's own templates), with the same filters."""
    return _environment_at(str(directory)).get_template(template).render(**context)
