"""``edgec build -f edgec.toml``: a matrix of builds described in a file.

    output = "dist"                          # bundle root (default dist/), relative to this file
    targets = ["jetson-orin-nano", "rpi5"]   # every model x target x precision
    precisions = ["fp32", "fp16"]            # optional; default: each target's own
    [options]                                # any `edgec build` option, for every model
    samples = 4
    [[model]]
    path = "models/cls.onnx"
    input-shape = ["x=1x3x48x192"]           # or a table: input-shape = { x = "1x3x48x192" }
    calibration-data = "calib/"              # per-model options override [options]
    targets = ["rpi5"]                       # optional: this model's own targets/precisions

Option keys are `edgec build`'s long options without the dashes and are parsed by
the same argument parser, so they mean exactly what they mean on the command
line: true gives the flag, false leaves it out (options on by default are
turned off by their ``no-`` form: ``no-bias-correction = true``), a list
repeats the option.
Paths are relative to the build file's directory.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgec.errors import UsageError

MATRIX_KEYS = frozenset({"path", "targets", "precisions"})
PATH_KEYS = frozenset(
    {"calibration-data", "validation-data", "sample-data", "targets-file", "dump-ir", "sign-key"}
)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the build file: its parsed options and its targets and precisions."""

    args: argparse.Namespace
    targets: tuple[str, ...]
    precisions: tuple[str | None, ...]


@dataclass(frozen=True)
class BuildFile:
    output: Path
    models: tuple[ModelEntry, ...]


def _resolve(key: str, value: Any, base: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(key, v, base) for v in value]
    is_path = key in PATH_KEYS or (key == "preprocess" and str(value).endswith(".toml"))
    return str(base / value) if is_path and isinstance(value, str) else value


def to_argv(options: Mapping[str, Any], base: Path, where: str) -> list[str]:
    """TOML options -> `edgec build` arguments."""
    argv: list[str] = []
    for key, raw in options.items():
        value = _resolve(key, raw, base)
        if isinstance(value, bool):
            argv += [f"--{key}"] if value else []
        elif isinstance(value, dict):
            argv += [a for name, dims in value.items() for a in (f"--{key}", f"{name}={dims}")]
        elif isinstance(value, list):
            argv += [a for item in value for a in (f"--{key}", str(item))]
        elif isinstance(value, int | float | str):
            argv += [f"--{key}", str(value)]
        else:
            raise UsageError(
                f"{where}: option '{key}' has a value of unsupported type {type(value).__name__}"
            )
    return argv


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UsageError(f"{where}: '{key}' must be a non-empty list of names")
    return tuple(names)


def load(path: Path, parse: Callable[[Sequence[str]], argparse.Namespace]) -> BuildFile:
    """Read ``path``; ``parse`` turns a model's `edgec build` arguments into a namespace."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"build file '{path}': cannot read it ({exc})") from exc
    base = path.resolve().parent
    unknown = set(data) - {"output", "targets", "precisions", "options", "model"}
    if unknown:
        raise UsageError(f"build file '{path}': unknown key(s) {', '.join(sorted(unknown))}")
    models = data.get("model")
    if not isinstance(models, list) or not models:
        raise UsageError(f"build file '{path}': no [[model]] entries")
    entries = []
    for index, model in enumerate(models, 1):
        where = f"build file '{path}', model {index}"
        if not isinstance(model, dict) or not isinstance(model.get("path"), str):
            raise UsageError(f"{where}: 'path' (the ONNX model) is missing")
        targets = _names(model.get("targets", data.get("targets")), "targets", where)
        precisions: tuple[str | None, ...] = (None,)
        if "precisions" in model or "precisions" in data:
            precisions = _names(model.get("precisions", data.get("precisions")), "precisions", where)
        own = {k: v for k, v in model.items() if k not in MATRIX_KEYS}
        argv = [str(base / model["path"])]
        argv += to_argv(data.get("options", {}), base, where) + to_argv(own, base, where)
        entries.append(ModelEntry(parse(argv), targets, precisions))
    return BuildFile(base / data.get("output", "dist"), tuple(entries))
