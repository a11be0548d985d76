"""Bias correction: cancel the mean output error that rounding the weights causes.

Rounding a layer's weights to int8 adds ``eps = dequantize(quantize(W)) - W``;
on inputs with per-channel means ``E[x]`` (measured on the calibration
data) the layer's output is off by ``eps . E[x]`` per output channel on
average (Nagel et al., "Data-Free Quantization Through Weight Equalization
and Bias Correction", ICCV 2019, with measured instead of modelled means).
Subtracting that from the bias removes the systematic part of the error.

Covered: Conv (any group count) and Gemm with ``transA = 0`` and a non-zero
``beta``; a missing bias is added. Zero padding is ignored (border pixels
see fewer inputs). ConvTranspose and MatMul are left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.quantization.parameters import Calibration, weighted_nodes
from edgec.quantization.scheme import INT8_BOUND, dequantize_array, quantize_array


def _weight_error(node: Node, rounded: np.ndarray | None) -> np.ndarray:
    weight = node.input(1)
    assert weight is not None and weight.data is not None and weight.quant is not None
    params = weight.quant
    ints = quantize_array(weight.data, params, low=-INT8_BOUND) if rounded is None else rounded
    return dequantize_array(ints, params).astype(np.float64) - weight.data.astype(np.float64)


def constant_response(node: Node, weight: np.ndarray, per_channel: np.ndarray) -> np.ndarray:
    """Per output channel of a Conv (any group count) or Gemm (``transA = 0``, times ``alpha / beta``),
    what ``weight`` adds when input channel ``c`` holds ``per_channel[c]`` everywhere (padding aside).

    ``weight`` is the layer's weight or an error of it; this is how a constant input, or the mean
    of an input, folds into the bias.
    """
    if node.op is Op.CONV:
        out_channels, in_per_group = weight.shape[:2]
        groups = int(node.attrs.get("group", 1))
        grouped = per_channel.reshape(groups, in_per_group)
        per_tap = weight.reshape(groups, out_channels // groups, in_per_group, -1).sum(axis=3)
        return np.einsum("goc,gc->go", per_tap, grouped).reshape(out_channels)
    matrix = weight.T if node.attrs.get("transB", 0) else weight  # [K, N]
    return node.attrs.get("alpha", 1.0) / node.attrs.get("beta", 1.0) * (per_channel @ matrix)


def current_bias(node: Node, channels: int) -> np.ndarray | None:
    """The constant bias over ``channels`` outputs in float64 (zeros without one), or None if it is
    computed or of another size."""
    bias = node.input(2)
    if bias is None:
        return np.zeros(channels)
    if bias.data is None or bias.data.size not in (1, channels):
        return None
    return np.broadcast_to(bias.data.astype(np.float64).reshape(-1), (channels,))


def set_bias(graph: Graph, node: Node, bias: np.ndarray, suffix: str) -> None:
    """Give ``node`` a new float32 bias constant ``<node>_<suffix>`` (the old one may be shared)."""
    constant = graph.constant(f"{node.name}_{suffix}", np.asarray(bias, np.float32))
    if len(node.inputs) < 3:
        node.inputs.append(None)
    graph.set_input(node, 2, constant)


def bias_corrections(
    graph: Graph, calibration: Calibration, rounded: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Corrected biases (float32) by layer name, for every layer this covers.

    ``rounded``: int8 weights by layer name rounded otherwise than to nearest (as ``quantize_qdq``'s).
    """
    rounded = rounded or {}
    means = calibration.statistics.channel_means
    corrections = {}
    for node in weighted_nodes(graph):
        data = node.input(0)
        weight = node.input(1)
        if data is None or data.name not in means or weight is None or weight.quant is None:
            continue
        gemm_without_bias = node.op is Op.GEMM and (
            node.attrs.get("transA", 0) or node.attrs.get("beta", 1.0) == 0.0
        )
        if node.op not in (Op.CONV, Op.GEMM) or gemm_without_bias:
            continue
        shift = constant_response(node, _weight_error(node, rounded.get(node.name)), means[data.name])
        bias = current_bias(node, len(shift))
        if bias is not None:
            corrections[node.name] = (bias - shift).astype(np.float32)
    return corrections


def apply_bias_corrections(
    graph: Graph, corrections: Mapping[str, np.ndarray], skip: Collection[str] = ()
) -> int:
    """Give the layers of ``graph`` named in ``corrections`` (except ``skip``) their corrected bias."""
    count = 0
    for node in graph.nodes:
        if node.name in corrections and node.name not in skip:
            set_bias(graph, node, corrections[node.name], "bias_corrected")
            count += 1
    graph.prune_unused_constants()
    return count
