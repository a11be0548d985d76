"""2:4 structured sparsity, and what a graph's zeros buy on a target.

NVIDIA's sparse tensor cores (Ampere and newer, compute capability 8.0 and
up; TensorRT 8.0 and up, trtexec ``--sparsity=enable``) skip the zeros of a
Conv/Gemm weight pruned to the 2:4 pattern: in every group of 4
consecutive input channels (for each output channel and kernel position)
at most 2 weights are non-zero. TensorRT checks the pattern itself and runs
the layers that have it with sparse kernels, the others dense.

Dense runtimes (TFLite CPU/GPU, SNPE, ONNX Runtime, TensorRT on older GPUs)
run zeros like any other weight: unstructured sparsity buys them nothing in
latency; it buys storage once the weights are stored compressed
(``--cluster``/``--huffman``). What a target's runtime makes of the pattern
is its backend's answer (the ``sparse_kernels`` hook), never a name here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgec import backend_registry
from edgec.compression.accounting import layer_density
from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.ir.weight_matrices import groups, weight_matrix, weighted_layers
from edgec.targets import Target

GROUP, KEPT = 4, 2


def _channels_by_kernel(node: Node) -> np.ndarray:
    """The weight as [output channels, input channels per group, kernel positions]."""
    matrix = weight_matrix(node)
    weight = node.const_input(1)
    assert weight is not None
    channels = weight.shape[1] if node.op is Op.CONV else matrix.shape[1]
    return matrix.reshape(matrix.shape[0], channels, -1)


def has_2of4_shape(node: Node) -> bool:
    """At least one full group of input channels (depthwise convs and 1-3 channel inputs have none)."""
    return _channels_by_kernel(node).shape[1] >= GROUP and (node.op is not Op.CONV or groups(node) == 1)


def mask_2of4(node: Node) -> np.ndarray:
    """True for the weights kept: the 2 largest magnitudes of every 4 consecutive input channels.

    Shaped like ``weight_matrix(node)``; a last group of fewer than 4
    channels keeps at most 2 as well.
    """
    cube = np.abs(_channels_by_kernel(node))
    out, channels, kernel = cube.shape
    padded = -(-channels // GROUP) * GROUP
    grouped = np.pad(cube, ((0, 0), (0, padded - channels), (0, 0)), constant_values=-1.0)
    grouped = grouped.reshape(out, padded // GROUP, GROUP, kernel)
    order = np.argsort(-grouped, axis=2, kind="stable")
    keep = np.zeros(grouped.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :, :KEPT], True, axis=2)
    return keep.reshape(out, padded, kernel)[:, :channels].reshape(out, -1)


def is_2of4(node: Node) -> bool:
    """Every group of 4 consecutive input channels holds at most 2 non-zero weights."""
    if not has_2of4_shape(node):
        return False
    cube = _channels_by_kernel(node) != 0
    out, channels, kernel = cube.shape
    padded = np.pad(cube, ((0, 0), (0, -channels % GROUP), (0, 0)))
    return bool((padded.reshape(out, -1, GROUP, kernel).sum(axis=2) <= KEPT).all())


def sparsity_gain(graph: Graph, target: Target, stored_compressed: bool) -> dict[str, Any]:
    """report.json's ``compression.sparsity``: the zeros, the 2:4 layers, and what they buy on ``target``."""
    layers = weighted_layers(graph)
    structured = [node.name for node in layers if is_2of4(node) and np.any(weight_matrix(node) == 0)]
    storage = (
        "smaller weights.huf (the zeros are not stored)"
        if stored_compressed
        else "none in the artifact: it stores every zero; --huffman (with --cluster) stores them compressed"
    )
    entry: dict[str, Any] = {
        "density": round(layer_density(graph), 6),
        "layers_2of4": structured,
        "storage_gain": storage,
    }
    kernels = backend_registry.load(target.backend, target.name).sparse_kernels(target)
    if not kernels.capable:
        entry["latency_gain"] = f"none: {kernels.facts}; zeros cost like any other weight"
    elif structured:
        entry["latency_gain"] = (
            f"{kernels.facts}: sparse kernels for the {len(structured)} 2:4 layer(s) when the engine is "
            f"built with {kernels.flag}"
        )
        entry[f"{target.backend}_flag"] = kernels.flag
    else:
        entry["latency_gain"] = (
            f"none yet: {kernels.facts}, but no layer has the 2:4 pattern; prune with --prune 0.5:2of4"
        )
    return entry
