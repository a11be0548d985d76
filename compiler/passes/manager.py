"""The pass registry, the pass manager and its instruments.

A pass is a plain function ``(graph, options) -> int`` that rewrites the
graph in place and returns how many rewrites it made (0: nothing changed).
It is registered under a name with a typed options dataclass whose fields
have defaults and descriptions (``field(metadata={"help": ...})``). A
pipeline is a list of ``PassSpec`` (name and options), assembled from the
target entry and the command line and validated before any pass runs.

The manager runs a pipeline (``run_passes``), repeats fixpoint groups until
nothing changes (``run_to_fixpoint``), and runs a stage's own step that is
not a registered pass, such as a data-aware rewrite of the quantization
engine, as a pass too (``run_step``). Every pass it runs goes through the
instruments of the current ``PassContext`` (after TVM's ``PassInstrument``
and ``PassContext``, edgec.passes.instruments): their ``before_pass`` hooks,
the pass (timed), then their ``after_pass`` hooks. ``VerifyIR`` runs ``verify()`` after
each pass (the test suite turns it on for every test) and the manager names
the failing pass and the ones before it; ``DumpIR`` writes the IR after each
pass, numbered across the whole build; ``PassTiming`` records each pass's
seconds and rewrites. Passes a pass runs itself (cleanup's) have depth 1:
they are verified, but neither dumped nor timed apart from their parent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from edgec import progress
from edgec.errors import PassError, UsageError, VerificationError
from edgec.ir.graph import Graph
from edgec.passes.instruments import PassContext, PassRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoOptions:
    """For passes without options."""


OptionsT = TypeVar("OptionsT")
T = TypeVar("T")
PassFn = Callable[[Graph, Any], int]


@dataclass(frozen=True)
class PassInfo(Generic[OptionsT]):
    name: str
    run: Callable[[Graph, OptionsT], int]
    options: type[OptionsT]
    description: str


REGISTRY: dict[str, PassInfo[Any]] = {}

# How deep in passes the running code is: 0 outside any pass, 1 inside one (cleanup's own passes).
_DEPTH: ContextVar[int] = ContextVar("edgec_pass_depth", default=0)


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


def _instrumented(graph: Graph, name: str, options: Any, body: Callable[[Graph], int], done: str) -> int:
    """Run ``body`` as the pass ``name`` through the current context's instruments; ``done``
    names the passes before it, for the error when it leaves an invalid graph."""
    progress.emit("pass", name=name)
    run = PassRun(name, options, _DEPTH.get())
    instruments = PassContext.current().instruments
    try:
        for instrument in instruments:
            instrument.before_pass(graph, run)
        token, start = _DEPTH.set(run.depth + 1), time.perf_counter()
        try:
            count = body(graph)
        finally:
            _DEPTH.reset(token)
        seconds = time.perf_counter() - start
        for instrument in instruments:
            instrument.after_pass(graph, run, count, seconds)
    except VerificationError as exc:
        raise PassError(
            f"pass '{name}' left an invalid graph (passes before it: {done or 'none'}): {exc}"
        ) from exc
    log.debug("pass '%s': %d rewrite(s) in %.3f s", name, count, seconds)
    return count


def _bound(info: PassInfo[Any], options: Any) -> Callable[[Graph], int]:
    return lambda graph: info.run(graph, options)


def run_passes(graph: Graph, pipeline: Sequence[PassSpec]) -> list[PassRecord]:
    """Run ``pipeline`` in order, each pass through the current context's instruments."""
    records: list[PassRecord] = []
    for spec in pipeline:
        info = REGISTRY[spec.name]
        done = ", ".join(r.spec.name for r in records)
        count = _instrumented(graph, spec.name, spec.options, _bound(info, spec.options), done)
        records.append(PassRecord(spec, count))
    return records


def run_step(graph: Graph, name: str, body: Callable[[Graph], T], rewrites: Callable[[T], int]) -> T:
    """Run a stage's own rewrite ``body`` (not a registered pass) as the pass ``name``; its result's
    ``rewrites`` is the count the instruments see."""
    results: list[T] = []

    def counted(graph: Graph) -> int:
        results.append(body(graph))
        return rewrites(results[0])

    _instrumented(graph, name, None, counted, "")
    return results[0]


def run_to_fixpoint(graph: Graph, pipeline: Sequence[PassSpec], max_rounds: int = 20) -> list[PassRecord]:
    """Repeat ``pipeline`` until a whole round makes no rewrite; totals per pass."""
    totals = {spec.name: PassRecord(spec, 0) for spec in pipeline}
    for _ in range(max_rounds):
        round_records = run_passes(graph, pipeline)
        for record in round_records:
            totals[record.spec.name].rewrites += record.rewrites
        if not any(r.rewrites for r in round_records):
            break
    return list(totals.values())
