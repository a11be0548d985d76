"""Pass instruments and the context that carries them (after TVM's ``PassInstrument``/``PassContext``).

A ``PassContext`` holds instruments; entered with ``with``, it is the
current one for every pass the manager runs inside, nested calls and
other modules included (a ``ContextVar``, so threads and asyncio tasks
each see their own). ``PassContext.current().with_instruments(...)`` adds
instruments to the current ones; ``PassContext(...)`` alone replaces them.

    timing = PassTiming()
    with PassContext.current().with_instruments(DumpIR(Path("ir")), timing):
        run_passes(graph, pipeline)
    timing.entries  # [{"name": ..., "rewrites": ..., "seconds": ...}, ...]
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from edgec.ir.graph import Graph
from edgec.ir.printer import format_graph
from edgec.ir.verify import verify


@dataclass(frozen=True)
class PassRun:
    """One pass as the instruments see it. ``depth`` 0: a pass a stage runs; 1: one run by a pass."""

    name: str
    options: Any
    depth: int


class PassInstrument:
    """Hooks around every pass run in a context, called in the context's order; both do nothing
    unless overridden.

    ``after_pass`` may raise: ``VerificationError`` becomes the manager's
    ``PassError`` naming the pass; any other ``EdgecError`` stops the build as it is.
    """

    def before_pass(self, graph: Graph, run: PassRun) -> None:
        """Called just before the pass runs."""

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        """Called just after the pass made ``rewrites`` rewrites in ``seconds`` (wall clock)."""


class PassContext:
    """The instruments every pass run inside ``with context:`` goes through."""

    def __init__(self, instruments: tuple[PassInstrument, ...] = ()) -> None:
        self.instruments = instruments
        self._tokens: list[Token[PassContext | None]] = []

    @staticmethod
    def current() -> PassContext:
        return _CURRENT.get() or PassContext()

    def with_instruments(self, *instruments: PassInstrument) -> PassContext:
        """A new context: this one's instruments, then ``instruments``."""
        return PassContext((*self.instruments, *instruments))

    def __enter__(self) -> PassContext:
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        _CURRENT.reset(self._tokens.pop())


_CURRENT: ContextVar[PassContext | None] = ContextVar("edgec_pass_context", default=None)


class VerifyIR(PassInstrument):
    """``verify()`` (structure and ONNX's shape rules) after every pass, nested ones included."""

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        verify(graph)


def verifying() -> bool:
    """Whether the current context verifies after each pass (the frontend then checks shapes too)."""
    return any(isinstance(instrument, VerifyIR) for instrument in PassContext.current().instruments)


class DumpIR(PassInstrument):
    """The IR after each pass into ``directory/NNN-<pass>.ir``, numbered from 001 across the context."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        if run.depth:
            return
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.count:03d}-{run.name}.ir"
        path.write_text(format_graph(graph, with_constants=False))


class PassTiming(PassInstrument):
    """Each pass's seconds and rewrites, in the order they ran (report.json ``pass_timing``).

    A pass's seconds are its own and those of the passes it runs itself, without the instruments'.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        if not run.depth:
            self.entries.append({"name": run.name, "rewrites": rewrites, "seconds": round(seconds, 6)})
