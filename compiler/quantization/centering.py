"""Centring bounded activations for symmetric int8: ``Clip(0, hi)`` outputs become ``Clip(-c, c)``.

Symmetric activations (zero point 0, TensorRT's only form) spend half of
int8's 256 steps on negative values a ReLU6 output never takes: its step is
``hi / 127``. Shifting the output by ``c = hi / 2`` makes the range
``[-c, c]`` and the step ``c / 127``, half as large, which is what an
asymmetric scheme gets with a zero point. The float function is unchanged:

- the producer (a Conv or Gemm with a fused ``Clip(0, hi)``) subtracts ``c``
  from its bias and clips to ``[-c, hi - c]``;
- every consumer adds it back through its bias: a Conv adds ``c`` times the
  sum of each output channel's weights, a Gemm ``c`` times the sum of each
  output's weights; a Conv's zero padding stood for 0 and must now stand for
  ``-c``, so a padded Conv reads its input through a ``Pad`` with value ``-c``;
- GlobalAveragePool, Flatten and Reshape between the two pass the shift on.

A producer whose output reaches anything else (an Add, a graph output, a
Conv with ``auto_pad``) is left alone. This runs before calibration, so the
ranges are measured on the centred tensors; ``grids.py`` has the measured gain.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.rewrite import unfuse_padding
from edgec.quantization.bias import constant_response, current_bias, set_bias

# Ops that carry a constant shift of their (first) input to their output.
_PASS_SHIFT = frozenset({Op.GLOBAL_AVERAGE_POOL, Op.FLATTEN, Op.RESHAPE})


def _clip_bound(node: Node) -> float | None:
    """``hi`` of a fused ``Clip(0, hi)`` with a finite ``hi > 0``, else None."""
    if node.attrs.get("activation") is not Op.CLIP:
        return None
    bounds = node.attrs.get("activation_attrs", {})
    low, high = bounds.get("min"), bounds.get("max")
    if low != 0.0 or high is None or not np.isfinite(high) or high <= 0.0:
        return None
    return float(high)


def constant_parameters(node: Node) -> bool:
    """A constant weight, and a constant bias or none: what a shift can be folded into."""
    bias = node.input(2)
    return node.const_input(1) is not None and (bias is None or bias.is_constant)


def _absorbs(node: Node, index: int) -> bool:
    """Whether ``node`` can take a constant shift of input ``index`` into its bias."""
    if index != 0 or not constant_parameters(node):
        return False
    if node.op is Op.CONV:
        return node.attrs.get("auto_pad", "NOTSET") == "NOTSET"
    if node.op is Op.GEMM:
        return not node.attrs.get("transA", 0) and node.attrs.get("beta", 1.0) != 0.0
    return False


def _absorbers(graph: Graph, value: Value) -> list[Node] | None:
    """The Conv/Gemm nodes that would absorb a shift of ``value``, or None if some use cannot."""
    found: list[Node] = []
    frontier = [value]
    while frontier:
        current = frontier.pop()
        if current in graph.outputs:
            return None
        for node, index in current.uses:
            if _absorbs(node, index):
                found.append(node)
            elif node.op in _PASS_SHIFT and index == 0:
                frontier.append(node.output)
            else:
                return None
    return found


def _input_channels(node: Node) -> int:
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    return source.shape[1] if node.op is Op.CONV else source.shape[-1]


def _centre(graph: Graph, producer: Node, high: float, consumers: list[Node]) -> None:
    shift = high / 2.0
    channels = producer.output.shape[1] if producer.op is Op.CONV else producer.output.shape[-1]
    bias = current_bias(producer, channels)
    assert bias is not None
    set_bias(graph, producer, bias - shift, "centred_bias")
    producer.attrs["activation_attrs"] = {"min": -shift, "max": high - shift}
    for node in consumers:
        weight = node.const_input(1)
        assert weight is not None
        taken_back = constant_response(node, weight.astype(np.float64), np.full(_input_channels(node), shift))
        bias = current_bias(node, len(taken_back))
        assert bias is not None
        set_bias(graph, node, bias + taken_back, "centred_bias")
        if node.op is Op.CONV:
            unfuse_padding(graph, node, -shift)


def centre_clipped_activations(graph: Graph) -> list[str]:
    """Centre every ``Clip(0, hi)`` output whose uses allow it; returns the centred values' names."""
    centred = []
    for producer in graph.nodes_of(Op.CONV, Op.GEMM):
        high = _clip_bound(producer)
        if high is None or not constant_parameters(producer):
            continue
        consumers = _absorbers(graph, producer.output)
        if consumers:
            _centre(graph, producer, high, consumers)
            centred.append(producer.output.name)
    graph.prune_unused_constants()
    return centred
