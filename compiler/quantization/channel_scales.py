"""Per-channel scales for depthwise Conv inputs, for per-tensor int8 activations (``scale_depthwise_inputs``).

A depthwise Conv's output channel ``c`` reads input channel ``c`` alone, and TensorRT
quantizes that input with one scale for the whole tensor: a channel whose values span a
tenth of the widest channel's gets a tenth of the steps, and its output channel carries that
error on. Cross-layer equalization moves such scales into the producer, which needs a
positively homogeneous activation between them; HardSwish and HardSigmoid-gated products
(PP-LCNet, MobileNetV3) are not, and a fused ReLU6's bounds are one scalar.

Here the scales stay explicit: ``Mul(x, s)`` with ``s[c] = R / r[c]`` (``r[c]`` the largest
``|x|`` of channel ``c`` on the calibration data, ``R`` the largest over channels) follows the
producer (TensorRT fuses the Mul into the producer's kernel), and the depthwise Conv's weights of
channel ``c`` are divided by ``s[c]``. The function is unchanged: zero stays zero, so the Conv's
zero padding stays right. The weights are quantized per output channel, so dividing a channel by
a constant leaves its int8 grid as it was; every input channel now spans the whole int8 range.

Only for placement ``tensorrt``, which quantizes Conv inputs and not the Mul's input; a scheme
that quantizes every tensor would quantize the unscaled tensor first.
"""

from __future__ import annotations

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.quantization.centering import clip_bounded
from edgec.quantization.collect import channel_amax

# Channels narrower than this share of the widest are scaled as if they reached it (a channel
# that stayed 0 on the calibration data gets 1000, not infinity).
MIN_CHANNEL_SHARE = 1e-3


def is_depthwise(node: Node) -> bool:
    """A Conv with a constant weight whose every group reads one input channel."""
    source, weight = node.input(0), node.const_input(1)
    if node.op is not Op.CONV or weight is None or source is None or source.shape is None:
        return False
    groups = int(node.attrs.get("group", 1))
    return len(source.shape) == 4 and weight.shape[1] == 1 and groups == source.shape[1]


def _candidates(graph: Graph) -> list[Value]:
    """Computed tensors that only depthwise Convs read (as their data input), but for Clip
    outputs (``clip_bounded``: their channels share the bound)."""
    found = []
    for value in graph.values.values():
        if value.producer is None or not value.uses or value in graph.outputs or clip_bounded(value):
            continue
        if all(index == 0 and is_depthwise(node) for node, index in value.uses):
            found.append(value)
    return found


def channel_scales(amax: np.ndarray) -> np.ndarray:
    """``s[c] = R / r[c]``, capped at ``1 / MIN_CHANNEL_SHARE``."""
    widest = float(amax.max())
    if widest <= 0.0:
        return np.ones_like(amax)
    return widest / np.maximum(amax, widest * MIN_CHANNEL_SHARE)


def _scale(graph: Graph, value: Value, scales: np.ndarray) -> None:
    """``Mul(value, scales)`` for every use; each depthwise Conv's output channel ``o`` reads input
    channel ``o // multiplier``, so its weights are divided by that channel's scale."""
    uses = list(value.uses)
    assert value.shape is not None
    factors = graph.constant(f"{value.name}_channel_scales", scales.astype(value.dtype).reshape(1, -1, 1, 1))
    scaled = graph.add_value(f"{value.name}_scaled", value.dtype, value.shape, value.layout)
    graph.add_node(Op.MUL, [value, factors], [scaled], name=scaled.name, before=uses[0][0])
    for node, index in uses:
        weight = node.const_input(1)
        assert weight is not None
        per_output = np.repeat(scales, weight.shape[0] // len(scales)).reshape(-1, 1, 1, 1)
        divided = graph.constant(f"{node.name}_weight_rescaled", (weight / per_output).astype(weight.dtype))
        graph.set_input(node, 1, divided)
        graph.set_input(node, index, scaled)


def scale_depthwise_inputs(graph: Graph, data: Dataset) -> list[str]:
    """Scale the channels of every tensor only depthwise Convs read; returns the scaled values' names."""
    candidates = _candidates(graph)
    if not candidates:
        return []
    amax = channel_amax(graph, data, [value.name for value in candidates])
    scaled = []
    for value in candidates:
        scales = channel_scales(amax[value.name])
        if np.allclose(scales, 1.0):
            continue
        _scale(graph, value, scales)
        scaled.append(value.name)
    graph.toposort()
    graph.prune_unused_constants()
    return scaled
