"""Progress events and the displays that show them.

The driver and the matrix runner call ``emit(kind, **fields)`` ("pass" per
compiler pass, "cell" per finished matrix cell); nothing listens unless the
CLI installs a display: a tqdm bar on a terminal (off when stderr is not a
TTY) or ``--progress json``, one JSON object per line on stderr. This module
imports nothing from edgec, so every layer may emit.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Listener = Callable[[str, dict[str, Any]], None]
_LISTENERS: list[Listener] = []
_CONTEXT: dict[str, Any] = {}
_LOCK = threading.Lock()  # events from a matrix's relay thread and its main thread


class LogFormatter(logging.Formatter):
    """``edgec: warning: message``: how edgec's log records read on stderr."""

    def format(self, record: logging.LogRecord) -> str:
        return f"edgec: {record.levelname.lower()}: {record.getMessage()}"


def log_to_stderr(level: int) -> None:
    """edgec's logger writes to stderr at ``level`` (the command, and each worker process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())
    logger = logging.getLogger("edgec")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(level)


def emit(kind: str, **fields: Any) -> None:
    """Tell every listener; the fields of the enclosing ``context`` come first."""
    event = {**_CONTEXT, **fields}
    with _LOCK:
        for listener in list(_LISTENERS):
            listener(kind, event)


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Events emitted inside carry ``fields`` (a matrix cell's model, target and precision)."""
    saved = dict(_CONTEXT)
    _CONTEXT.update(fields)
    try:
        yield
    finally:
        _CONTEXT.clear()
        _CONTEXT.update(saved)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add ``listener``; the returned function removes it."""
    _LISTENERS.append(listener)
    return lambda: _LISTENERS.remove(listener)


def json_lines(stream: TextIO | None = None) -> Listener:
    def listener(kind: str, fields: dict[str, Any]) -> None:
        out = stream or sys.stderr
        out.write(json.dumps({"event": kind, **fields}, default=str) + "\n")
        out.flush()

    return listener


class TerminalDisplay:
    """A tqdm bar: matrix cells as its steps (``start_cells``), or the current pass of one build."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.bar = tqdm(total=None, file=self.stream, leave=False, disable=not self.stream.isatty())

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "cells":
            self.bar.reset(total=fields["total"])
        elif kind == "cell":
            self.bar.update(1)
            self.bar.set_postfix_str(f"{fields['model']} {fields['target']} {fields['status']}")
        elif kind == "pass":
            self.bar.set_description_str(f"pass {fields['name']}")
        elif kind == "stage":
            self.bar.set_description_str(fields["name"])

    def close(self) -> None:
        self.bar.close()
