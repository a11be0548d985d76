"""The pass registry and the pass manager.

A pass is a plain function ``(graph, options) -> int`` that rewrites the
graph in place and returns how many rewrites it made (0: nothing changed).
It is registered under a name with a typed options dataclass whose fields
have defaults and descriptions (``field(metadata={"help": ...})``). A
pipeline is a list of ``PassSpec`` (name and options), assembled from the
target entry and the command line and validated before any pass runs.

The manager runs a pipeline, repeats fixpoint groups until nothing changes,
and, when verification is on (the test suite turns it on for every test),
runs ``verify()`` after each pass and names the failing pass and the ones
before it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from edgec import progress
from edgec.errors import EdgecError, PassError, UsageError, VerificationError
from edgec.ir.graph import Graph
from edgec.ir.printer import format_graph
from edgec.ir.verify import verify


@dataclass(frozen=True)
class NoOptions:
    """For passes without options."""


OptionsT = TypeVar("OptionsT")
PassFn = Callable[[Graph, Any], int]


@dataclass(frozen=True)
class PassInfo(Generic[OptionsT]):
    name: str
    run: Callable[[Graph, OptionsT], int]
    options: type[OptionsT]
    description: str


REGISTRY: dict[str, PassInfo[Any]] = {}

# Tests switch this on (tests/conftest.py) so that verify() runs after every pass.
VERIFY_AFTER_EACH_PASS = False


def register(name: str, options: type = NoOptions) -> Callable[[PassFn], PassFn]:
    """Register ``fn`` as the pass ``name``; its docstring's first line describes it."""

    def decorate(fn: PassFn) -> PassFn:
        if name in REGISTRY:
            raise ValueError(f"pass '{name}' is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        REGISTRY[name] = PassInfo(name, fn, options, doc[0] if doc else "")
        return fn

    return decorate


@dataclass(frozen=True)
class PassSpec:
    """One step of a pipeline: a registered pass and its validated options."""

    name: str
    options: Any = field(default_factory=NoOptions)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": dataclasses.asdict(self.options)}


def _coerce(pass_name: str, key: str, kind: Any, raw: Any) -> Any:
    kind = typing.get_origin(kind) or kind
    if kind is bool and isinstance(raw, bool):
        return raw
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if kind is str and isinstance(raw, str):
        return raw
    if kind in (list, tuple) and isinstance(raw, (list, tuple)):
        return tuple(raw)
    raise UsageError(
        f"pass '{pass_name}': option '{key}' must be {getattr(kind, '__name__', kind)}, got {raw!r}"
    )


def make_spec(name: str, options: Mapping[str, Any] | None = None) -> PassSpec:
    """Validate a pass name and its options; errors name the pass and the key."""
    info = REGISTRY.get(name)
    if info is None:
        known = ", ".join(sorted(REGISTRY))
        raise UsageError(f"unknown pass '{name}'; known passes: {known}")
    hints = typing.get_type_hints(info.options)
    fields = {f.name for f in dataclasses.fields(info.options)}
    values = {}
    for key, raw in (options or {}).items():
        if key not in fields:
            raise UsageError(
                f"pass '{name}' has no option '{key}'; its options: {', '.join(sorted(fields)) or 'none'}"
            )
        values[key] = _coerce(name, key, hints[key], raw)
    return PassSpec(name, info.options(**values))


@dataclass
class PassRecord:
    """What one pass did: its spec and how many rewrites it made."""

    spec: PassSpec
    rewrites: int


def run_passes(
    graph: Graph,
    pipeline: Sequence[PassSpec],
    verify_each: bool | None = None,
    dump_dir: Path | None = None,
) -> list[PassRecord]:
    """Run ``pipeline`` in order. With ``dump_dir`` the graph is printed after each pass."""
    check = VERIFY_AFTER_EACH_PASS if verify_each is None else verify_each
    records: list[PassRecord] = []
    for spec in pipeline:
        info = REGISTRY[spec.name]
        progress.emit("pass", name=spec.name)
        try:
            count = info.run(graph, spec.options)
            if check:
                verify(graph)
        except VerificationError as exc:
            before = ", ".join(r.spec.name for r in records) or "none"
            raise PassError(
                f"pass '{spec.name}' left an invalid graph (passes before it: {before}): {exc}"
            ) from exc
        except EdgecError:
            raise
        records.append(PassRecord(spec, count))
        if dump_dir is not None:
            dump_dir.mkdir(parents=True, exist_ok=True)
            (dump_dir / f"{len(records):03d}-{spec.name}.ir").write_text(
                format_graph(graph, with_constants=False)
            )
    return records


def run_to_fixpoint(
    graph: Graph,
    pipeline: Sequence[PassSpec],
    max_rounds: int = 20,
    verify_each: bool | None = None,
) -> list[PassRecord]:
    """Repeat ``pipeline`` until a whole round makes no rewrite; totals per pass."""
    totals = {spec.name: PassRecord(spec, 0) for spec in pipeline}
    for _ in range(max_rounds):
        round_records = run_passes(graph, pipeline, verify_each)
        for record in round_records:
            totals[record.spec.name].rewrites += record.rewrites
        if not any(r.rewrites for r in round_records):
            break
    return list(totals.values())
