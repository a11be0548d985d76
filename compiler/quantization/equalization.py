"""Data-aware cross-layer equalization before calibration (``CalibrationConfig.equalize``).

Measures, on the calibration data, the largest magnitude per channel of the
input of every Conv, and runs the ``equalize`` pass with those ranges in
place of the first layer's weight ranges (``edgec.passes.equalize``): with
weights quantized per channel and activations per tensor, the activation's
channel ranges are what the scales should balance.
"""

from __future__ import annotations

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.passes.equalize import EqualizeOptions, equalize_graph
from edgec.quantization.collect import progress_bar
from edgec.runtime import run, session


def conv_input_ranges(graph: Graph, dataset: Dataset) -> dict[str, np.ndarray]:
    """Conv name -> largest |value| per channel of its input (4-D inputs only) on ``dataset``."""
    inputs = {
        node.name: value.name
        for node in graph.nodes_of(Op.CONV)
        if (value := node.input(0)) is not None and value.rank == 4
    }
    names = sorted(set(inputs.values()))
    sess = session(to_onnx(graph, extra_outputs=[name for name in names if name not in dataset.arrays]))
    amax: dict[str, np.ndarray] = {}
    with progress_bar(len(dataset), "equalizing") as bar:
        for feeds in dataset.samples():
            outputs = {**run(sess, feeds), **feeds}
            for name in names:
                channels = np.abs(outputs[name]).max(axis=(0, 2, 3)).astype(np.float64)
                amax[name] = channels if name not in amax else np.maximum(amax[name], channels)
            bar.update(1)
    return {node: amax[value] for node, value in inputs.items()}


def equalize_for_calibration(graph: Graph, dataset: Dataset, options: EqualizeOptions | None = None) -> int:
    """Equalize ``graph`` in place with ranges measured on ``dataset``; returns the pairs rescaled."""
    return equalize_graph(graph, options or EqualizeOptions(), conv_input_ranges(graph, dataset))
