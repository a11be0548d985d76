"""Jinja2 for every generated text file. Model-supplied names are untrusted:
templates embed them with the ``py`` filter (a Python literal) or the
``sh`` filter (a single-quoted shell word), never raw."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jinja2

from edgec.resources import resource_path

_ENV: jinja2.Environment | None = None


def _py_literal(value: Any) -> str:
    return repr(value)


def markdown_code(value: Any) -> str:
    """Untrusted text as one Markdown code span that stays on its line and inside a table cell:
    line breaks shown as \\n, pipes escaped, delimited by more backticks than the text holds."""
    text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(resource_path("templates"))),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        _ENV.filters["py"] = _py_literal
        _ENV.filters["sh"] = shlex.quote
        _ENV.filters["md"] = markdown_code
        _ENV.filters["json"] = lambda value: json.dumps(value, ensure_ascii=True)
    return _ENV


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
