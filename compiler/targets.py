"""The target catalogue: targets.toml, loaded and validated into ``Target`` objects.

The bundled catalogue ships with edgec (``resource_path("targets.toml")``);
user files given with ``--targets-file`` are read after it, in order, and
add targets or replace whole entries of the same name. Every entry is
checked on load; an error names the file, the entry and the key.

Everything a stage needs to know about a target comes from its entry here,
never from ``if target == ...`` in code.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edgec.backend_registry import hardware_schema
from edgec.errors import TargetError
from edgec.resources import resource_path

# The one precision vocabulary of every backend (DESIGN.md "Precisions").
PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic", "int16x8", "ternary")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Target:
    """One catalogue entry. ``peak_gops`` is in 10^9 operations/s (1 MAC = 2 operations)."""

    name: str
    description: str
    family: str
    backend: str
    precisions: tuple[str, ...]
    default_precision: str
    unsupported_precisions: Mapping[str, str]
    default_batch: int
    passes: tuple[tuple[str, Mapping[str, Any]], ...]
    peak_gops: Mapping[str, float]
    memory_bandwidth_gbs: float
    hardware: Mapping[str, Any]
    source: str
    # Targets of one device that differ by runtime share a group name: `--target <group>` picks the
    # group_default member, `--target <group> --runtime R` the member whose hardware.runtime is R.
    group: str | None = None
    group_default: bool = False

    def __hash__(self) -> int:  # the Mapping fields are unhashable; name and source identify an entry
        return hash((self.name, self.source))

    def resolve_precision(self, requested: str | None) -> str:
        """The precision to build at: the default when None; TargetError when the target cannot."""
        if requested is None:
            return self.default_precision
        if requested in self.precisions:
            return requested
        offer = (
            f"Target '{self.name}' runs {', '.join(self.precisions)} (default {self.default_precision}); "
            f"pass one of them with --precision, or leave --precision out."
        )
        if requested not in PRECISIONS:
            raise TargetError(
                f"unknown precision '{requested}' (edgec's precisions: {', '.join(PRECISIONS)}). {offer}"
            )
        reason = self.unsupported_precisions.get(
            requested, f"its backend '{self.backend}' does not offer {requested} for it"
        )
        raise TargetError(f"target '{self.name}' cannot run precision '{requested}': {reason}. {offer}")

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-ready data (without ``source``, a machine-specific path)."""
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "backend": self.backend,
            "precisions": list(self.precisions),
            "default_precision": self.default_precision,
            "unsupported_precisions": dict(self.unsupported_precisions),
            "default_batch": self.default_batch,
            "passes": [{"name": name, "options": _thaw(options)} for name, options in self.passes],
            "peak_gops": dict(self.peak_gops),
            "memory_bandwidth_gbs": self.memory_bandwidth_gbs,
            "hardware": _thaw(self.hardware),
        }


class Catalogue(Mapping[str, Target]):
    """Targets by name, in catalogue order (bundled entries first, then those users added)."""

    def __init__(self, targets: Mapping[str, Target], files: Sequence[str]) -> None:
        self._targets = dict(targets)
        self.files = tuple(files)

    def __getitem__(self, name: str) -> Target:
        return self._targets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def get(self, name: str) -> Target:  # type: ignore[override]
        """The target ``name``; TargetError with close matches when there is none."""
        if name in self._targets:
            return self._targets[name]
        members = self.group(name)
        if members:
            return next(t for t in members if t.group_default)
        close = difflib.get_close_matches(name, [*self._targets, *self.groups()], n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise TargetError(f"unknown target '{name}'.{hint} Run `edgec targets` to list the targets.")

    def groups(self) -> list[str]:
        return list(dict.fromkeys(t.group for t in self._targets.values() if t.group is not None))

    def group(self, name: str) -> list[Target]:
        return [t for t in self._targets.values() if t.group == name]

    def select(self, name: str, runtime: str | None = None) -> Target:
        """The target ``name`` (a target or a group), on ``runtime`` when given (``--runtime``)."""
        target = self.get(name)
        if runtime is None or target.hardware.get("runtime") == runtime:
            return target
        members = self.group(target.group) if target.group is not None else [target]
        for member in members:
            if member.hardware.get("runtime") == runtime:
                if name != target.group and name != member.name:
                    raise TargetError(
                        f"target '{name}' runs on '{target.hardware.get('runtime')}', not '{runtime}'. "
                        f"Use --target {target.group} --runtime {runtime}, or --target {member.name}."
                    )
                return member
        offered = ", ".join(str(m.hardware.get("runtime")) for m in members if "runtime" in m.hardware)
        raise TargetError(
            f"target '{name}' has no runtime '{runtime}' (runtimes: {offered or 'none to choose from'}). "
            f"Pick one of them with --runtime, or leave --runtime out for the default."
        )


def _check_groups(targets: Mapping[str, Target], files: Sequence[Path]) -> None:
    groups: dict[str, list[Target]] = {}
    for target in targets.values():
        if target.group is not None:
            groups.setdefault(target.group, []).append(target)
    for group, members in groups.items():
        where = f"targets files {', '.join(str(f) for f in files)}, group '{group}'"
        defaults = [m.name for m in members if m.group_default]
        runtimes = [m.hardware.get("runtime") for m in members]
        if group in targets:
            raise TargetError(f"{where}: a target has the same name as the group; rename one of them.")
        if len(defaults) != 1:
            raise TargetError(f"{where}: needs exactly one member with group_default = true, has {defaults}.")
        if None in runtimes or len(set(runtimes)) != len(runtimes):
            raise TargetError(f"{where}: every member needs its own hardware.runtime, got {runtimes}.")


def load_catalogue(extra_files: Sequence[Path] = ()) -> Catalogue:
    """The bundled catalogue, then each user file in order (adding or replacing whole entries)."""
    files = [resource_path("targets.toml"), *(Path(f) for f in extra_files)]
    targets: dict[str, Target] = {}
    for path in files:
        for target in _load_file(path):
            targets[target.name] = target
    _check_groups(targets, files)
    return Catalogue(targets, [str(f) for f in files])


def table_rows(catalogue: Mapping[str, Target]) -> list[dict[str, Any]]:
    """One row per target for `edgec targets` (JSON-ready); ``group`` names the target group
    (``--target GROUP --runtime R``) a target belongs to, ``*`` marking the group's default."""
    return [
        {
            "name": t.name,
            "group": _group_label(t),
            "family": t.family,
            "backend": t.backend,
            "precisions": list(t.precisions),
            "default_precision": t.default_precision,
            "description": t.description,
        }
        for t in catalogue.values()
    ]


def _group_label(target: Target) -> str | None:
    if target.group is None:
        return None
    return f"{target.group}*" if target.group_default else target.group


_COLUMNS = (
    ("name", "TARGET"),
    ("group", "GROUP"),
    ("family", "FAMILY"),
    ("backend", "BACKEND"),
    ("precisions", "PRECISIONS"),
    ("default_precision", "DEFAULT"),
    ("description", "DESCRIPTION"),
)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of ``table_rows`` as a text table with aligned columns (no trailing newline)."""
    cells = [[header for _, header in _COLUMNS]]
    for row in rows:
        cells.append([_cell(row[key]) for key, _ in _COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


# -- loading and validation --------------------------------------------------------------


def _load_file(path: Path) -> list[Target]:
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise TargetError(f"cannot read targets file '{path}': {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise TargetError(
            f"targets file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start})."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(
            f"targets file '{path}' is not valid TOML: {exc}. Fix the syntax at that line."
        ) from exc
    extra = sorted(set(document) - {"targets"})
    if extra:
        raise TargetError(
            f"targets file '{path}': unknown top-level key '{extra[0]}'; "
            f"put each target in a [targets.<name>] table."
        )
    entries = document.get("targets")
    if not isinstance(entries, dict) or not entries:
        raise TargetError(f"targets file '{path}' defines no targets; add [targets.<name>] tables.")
    return [_EntryChecker(path, name).target(entry) for name, entry in entries.items()]


@dataclass(frozen=True)
class _Kind:
    label: str
    test: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


STRING = _Kind("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))
INTEGER = _Kind("an integer", _is_int)
NUMBER = _Kind("a number", _is_number)
BOOLEAN = _Kind("true or false", lambda v: isinstance(v, bool))
TABLE = _Kind("a table", lambda v: isinstance(v, dict))
LIST = _Kind("a list", lambda v: isinstance(v, list))
STRINGS = _Kind("a list of strings", lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v))
INTEGERS = _Kind("a list of integers", lambda v: isinstance(v, list) and all(_is_int(i) for i in v))

# key -> (kind, required)
Schema = Mapping[str, tuple[_Kind, bool]]

ENTRY_SCHEMA: Schema = {
    "description": (STRING, True),
    "family": (STRING, True),
    "backend": (STRING, True),
    "precisions": (STRINGS, True),
    "default_precision": (STRING, True),
    "unsupported_precisions": (TABLE, False),
    "default_batch": (INTEGER, True),
    "passes": (LIST, True),
    "peak_gops": (TABLE, True),
    "memory_bandwidth_gbs": (NUMBER, True),
    "hardware": (TABLE, True),
    "group": (STRING, False),
    "group_default": (BOOLEAN, False),
}

# Every family's [hardware] table may say more in free text.
NOTES: Schema = {"notes": (STRING, False)}


class _EntryChecker:
    """Validates one entry of one file; every error names the file, the entry and the key."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def error(self, key: str, message: str) -> TargetError:
        return TargetError(
            f"targets file '{self.path}', entry '{self.name}', key '{key}': {message}. "
            f"Fix the entry; the keys are described at the top of edgec's bundled targets.toml."
        )

    def target(self, entry: Any) -> Target:
        if not _NAME.fullmatch(self.name):
            raise self.error("name", "a target name uses only lowercase letters, digits and '-'")
        if not isinstance(entry, dict):
            raise self.error("name", "must be a table ([targets.<name>])")
        self.check_schema(entry, ENTRY_SCHEMA, "")
        precisions = self.precision_list(entry["precisions"])
        default = self.precision_word("default_precision", entry["default_precision"])
        if default not in precisions:
            raise self.error("default_precision", f"'{default}' is not among precisions {precisions}")
        if entry["default_batch"] < 1:
            raise self.error("default_batch", "must be at least 1")
        if entry["memory_bandwidth_gbs"] <= 0:
            raise self.error("memory_bandwidth_gbs", "must be positive (GB/s)")
        schema = hardware_schema(entry["backend"], entry["family"])
        if schema is not None:
            self.check_schema(entry["hardware"], {**schema, **NOTES}, "hardware.")
        return Target(
            name=self.name,
            description=entry["description"],
            family=entry["family"],
            backend=entry["backend"],
            precisions=tuple(precisions),
            default_precision=default,
            unsupported_precisions=MappingProxyType(
                self.reasons(entry.get("unsupported_precisions", {}), precisions)
            ),
            default_batch=entry["default_batch"],
            passes=tuple(self.pass_step(i, step) for i, step in enumerate(entry["passes"])),
            peak_gops=MappingProxyType(self.peaks(entry["peak_gops"], precisions)),
            memory_bandwidth_gbs=float(entry["memory_bandwidth_gbs"]),
            hardware=_freeze(entry["hardware"]),
            source=str(self.path),
            group=entry.get("group"),
            group_default=entry.get("group_default", False),
        )

    def check_schema(self, table: Mapping[str, Any], schema: Schema, prefix: str) -> None:
        for key in table:
            if key not in schema:
                raise self.error(f"{prefix}{key}", f"unknown key; known keys: {', '.join(sorted(schema))}")
        for key, (kind, required) in schema.items():
            if key not in table:
                if required:
                    raise self.error(f"{prefix}{key}", "missing")
            elif not kind.test(table[key]):
                raise self.error(f"{prefix}{key}", f"must be {kind.label}, got {table[key]!r}")

    def precision_word(self, key: str, word: str) -> str:
        if word not in PRECISIONS:
            raise self.error(key, f"unknown precision '{word}'; precisions are: {', '.join(PRECISIONS)}")
        return word

    def precision_list(self, words: list[str]) -> list[str]:
        if not words:
            raise self.error("precisions", "must list at least one precision")
        for word in words:
            self.precision_word("precisions", word)
        if len(set(words)) != len(words):
            raise self.error("precisions", f"lists a precision twice: {words}")
        return words

    def reasons(self, table: Mapping[str, Any], precisions: list[str]) -> dict[str, str]:
        for word, reason in table.items():
            key = f"unsupported_precisions.{word}"
            self.precision_word(key, word)
            if word in precisions:
                raise self.error(
                    key, f"'{word}' is also listed in precisions; a target cannot both run it and not"
                )
            if not STRING.test(reason):
                raise self.error(
                    key, f"must be {STRING.label} saying why and what to use instead, got {reason!r}"
                )
        return dict(table)

    def peaks(self, table: Mapping[str, Any], precisions: list[str]) -> dict[str, float]:
        for word, value in table.items():
            key = f"peak_gops.{word}"
            self.precision_word(key, word)
            if word not in precisions:
                raise self.error(key, f"'{word}' is not among precisions {precisions}")
            if not _is_number(value) or value <= 0:
                raise self.error(key, f"must be a positive number (GOPS), got {value!r}")
        missing = [p for p in precisions if p not in table]
        if missing:
            raise self.error(f"peak_gops.{missing[0]}", "missing: every precision needs a peak throughput")
        return {word: float(table[word]) for word in precisions}

    def pass_step(self, index: int, step: Any) -> tuple[str, Mapping[str, Any]]:
        key = f"passes[{index}]"
        if STRING.test(step):
            return step, MappingProxyType({})
        if not isinstance(step, dict):
            raise self.error(key, f"must be a pass name or {{ name = ..., options = {{...}} }}, got {step!r}")
        self.check_schema(step, {"name": (STRING, True), "options": (TABLE, False)}, f"{key}.")
        return step["name"], _freeze(step.get("options", {}))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
