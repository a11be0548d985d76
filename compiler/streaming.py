"""Stateful (streaming) models: state pairs, and the accuracy check over a stream of chunks.

A model is stateful when an input and an output carry the same state: the same shape and dtype,
and names that pair up as ``state``/``stateN``, ``h0``/``hn``, ``c_in``/``c_out``,
``state_prev``/``state_next``, and the like. On the device such a model is called once per chunk
of a stream, each call's state output fed to the next call's state input, starting from zeros.
The accuracy check does the same with both models, each carrying its own state, so an error that
accumulates in the state shows up; each chunk's outputs (the state outputs included) are judged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.ir.graph import Value

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]

# (input suffix, output suffix): input ``<stem><a>`` pairs with output ``<stem><b>``.
_SUFFIXES = (
    ("", "N"),
    ("", "n"),
    ("", "_out"),
    ("", "_new"),
    ("", "_next"),
    ("0", "n"),
    ("0", "N"),
    ("0", "_out"),
    ("_in", "_out"),
    ("in", "out"),
    ("_prev", "_next"),
    ("_initial", "_final"),
)
_CHUNKS = 8


@dataclass(frozen=True)
class StatePair:
    """A state input and the output that gives its next value."""

    input: str
    output: str

    def as_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output}


def _pairs_with(value: Value, output: Value) -> bool:
    if value.shape != output.shape or value.dtype != output.dtype or value.name == output.name:
        return False
    for before, after in _SUFFIXES:
        if value.name.endswith(before) and output.name.endswith(after):
            stem = value.name[: len(value.name) - len(before)] if before else value.name
            if stem and output.name == stem + after:
                return True
    return False


def state_pairs(inputs: Sequence[Value], outputs: Sequence[Value]) -> list[StatePair]:
    """The (input, output) state pairs of a graph, in input order; each output pairs once."""
    pairs, taken = [], set()
    for value in inputs:
        match = next((o for o in outputs if o.name not in taken and _pairs_with(value, o)), None)
        if match is not None and np.issubdtype(value.dtype, np.floating):
            pairs.append(StatePair(value.name, match.name))
            taken.add(match.name)
    return pairs


def stream_feeds(
    samples: Sequence[Mapping[str, np.ndarray]], pairs: Sequence[StatePair], chunks: int = _CHUNKS
) -> list[list[dict[str, np.ndarray]]]:
    """``samples`` cut into streams of ``chunks`` consecutive chunks (at least one stream; the last
    shorter stream dropped when there is a full one), without their state inputs."""
    states = {p.input for p in pairs}
    chunked = [{k: v for k, v in s.items() if k not in states} for s in samples]
    streams = [chunked[i : i + chunks] for i in range(0, len(chunked), chunks)]
    full = [s for s in streams if len(s) == chunks]
    return full or streams[:1]


def run_stream(
    runner: Runner,
    chunks: Sequence[Mapping[str, np.ndarray]],
    initial: Mapping[str, np.ndarray],
    pairs: Sequence[StatePair],
) -> list[dict[str, np.ndarray]]:
    """``runner`` over the chunks, each call's state outputs fed to the next call's state inputs."""
    state = dict(initial)
    results = []
    for chunk in chunks:
        out = runner({**chunk, **state})
        results.append(out)
        state = {p.input: out[p.output] for p in pairs}
    return results


def zero_state(
    samples: Sequence[Mapping[str, np.ndarray]], pairs: Sequence[StatePair]
) -> dict[str, np.ndarray]:
    """The state a stream starts from: zeros of each state input's shape and dtype."""
    first = samples[0]
    return {p.input: np.zeros_like(first[p.input]) for p in pairs}


def stream_outputs(
    reference: Runner,
    artifact: Runner,
    samples: Sequence[Mapping[str, np.ndarray]],
    pairs: Sequence[StatePair],
) -> tuple[list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]], dict[str, Any]]:
    """Both models' outputs for every chunk of every stream, each carrying its own state, and what ran."""
    initial = zero_state(samples, pairs)
    streams = stream_feeds(samples, pairs)
    runs: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []
    for chunks in streams:
        expected = run_stream(reference, chunks, initial, pairs)
        runs += zip(expected, run_stream(artifact, chunks, initial, pairs), strict=True)
    run = {
        "streams": len(streams),
        "chunks": max(len(s) for s in streams),
        "state": [p.as_dict() for p in pairs],
        "initial_state": "zeros",
    }
    return runs, run
