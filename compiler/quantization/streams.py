"""Calibration data of a stateful model as a stream: the state flows from chunk to chunk.

A stateful model (``edgec.streaming``) sees on the device the states its own previous calls
gave, never the states a calibration file happens to hold. The calibration samples, in their
order, are run as one stream through the float model from a zero state, and each sample's state
inputs are replaced by the state the chunk before it left, so the state inputs' ranges are the
ones the device will see.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.runtime import run, session
from edgec.streaming import run_stream, state_pairs, zero_state


def carry_state(graph: Graph, dataset: Dataset) -> Dataset:
    """``dataset`` with its state inputs replaced by the states carried through it (unchanged for
    a model without state pairs)."""
    pairs = state_pairs(graph.inputs, graph.outputs)
    if not pairs or len(dataset) == 0:
        return dataset
    samples = list(dataset.samples())
    states = {p.input for p in pairs}
    chunks = [{k: v for k, v in s.items() if k not in states} for s in samples]
    reference = session(to_onnx(graph))
    outputs = run_stream(lambda feeds: run(reference, feeds), chunks, zero_state(samples, pairs), pairs)
    arrays = dict(dataset.arrays)
    for pair in pairs:
        carried = [samples[0][pair.input] * 0, *(out[pair.output] for out in outputs[:-1])]
        arrays[pair.input] = np.stack(carried).astype(dataset.arrays[pair.input].dtype)
    return replace(dataset, arrays=arrays, source=f"{dataset.source}, state carried from chunk to chunk")
