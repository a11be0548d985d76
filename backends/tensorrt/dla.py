"""Which layers a DLA core can take (REFERENCE A8); the rest fall back to the GPU.

Only the restrictions REFERENCE A8 lists are modelled. A layer of a kind
the table does not cover is reported as going to the GPU: the conservative
choice, since TensorRT decides on the device and GPU fallback covers it.
"""

from __future__ import annotations

from collections.abc import Callable

from edgec.plugin import Graph, Node, Op, Unsupported

MAX_DIM = 8192  # "max non-batch dim 8192"
DLA_PRECISIONS = ("fp16", "int8")  # "FP16/INT8 only"

_ACTIVATIONS = frozenset({Op.RELU, Op.SIGMOID, Op.TANH, Op.CLIP, Op.LEAKY_RELU})
_ELEMENTWISE = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.MAX, Op.MIN, Op.DIV, Op.POW})
# Ops that only move quantization scales around; TensorRT folds them into the layers they feed.
_FOLDED = frozenset({Op.QUANTIZE_LINEAR, Op.DEQUANTIZE_LINEAR, Op.IDENTITY})


def _four_d(node: Node) -> str | None:
    if any(v is not None and not v.is_constant and v.rank != 4 for v in [*node.inputs, node.output]):
        return "the DLA runs this layer on 2D (NCHW) feature maps only"
    return None


def _conv(node: Node) -> str | None:
    kernel, strides = node.attrs["kernel_shape"], node.attrs["strides"]
    if len(kernel) != 2:
        return "the DLA convolves in 2D only"
    if not all(1 <= k <= 32 for k in kernel):
        return f"kernel {kernel} is outside the DLA's 1..32"
    if not all(1 <= s <= 8 for s in strides):
        return f"strides {strides} are outside the DLA's 1..8"
    channels = (node.inputs[0].shape[1], node.output.shape[1])  # type: ignore[union-attr]
    if not all(1 <= c <= MAX_DIM for c in channels):
        return f"channels {channels} are outside the DLA's 1..{MAX_DIM}"
    activation = node.attrs.get("activation")
    if activation is not None and activation not in _ACTIVATIONS:
        return f"the fused {activation} is not a DLA activation (ReLU, Sigmoid, TanH, clipped/leaky ReLU)"
    return None


def _deconv(node: Node) -> str | None:
    if len(node.attrs["kernel_shape"]) != 2:
        return "the DLA deconvolves in 2D only"
    if node.attrs["group"] != 1 or any(d != 1 for d in node.attrs["dilations"]):
        return "the DLA has no grouped or dilated deconvolution"
    if any(p != 0 for p in node.attrs["pads"]):
        return "the DLA deconvolves without padding only"
    return None


def _concat(node: Node) -> str | None:
    axis = node.attrs["axis"] % node.output.rank
    if axis != 1 or len(node.inputs) < 2:
        return "the DLA concatenates two or more inputs along channels only"
    return _four_d(node)


_RULES: dict[Op, Callable[[Node], str | None]] = {
    Op.CONV: _conv,
    Op.CONV_TRANSPOSE: _deconv,
    Op.CONCAT: _concat,
    **{op: _four_d for op in _ACTIVATIONS | _ELEMENTWISE},
}


def gpu_layers(graph: Graph) -> list[Unsupported]:
    """The nodes that would run on the GPU instead of the DLA, with the reason."""
    found = []
    for node in graph.nodes:
        if node.op in _FOLDED:
            continue
        rule = _RULES.get(node.op)
        if rule is None:
            reason = f"{node.op.value} is not among the DLA layers edgec knows (REFERENCE A8)"
        else:
            big = [d for d in node.output.shape[1:] if d > MAX_DIM]  # type: ignore[index]
            reason = f"dimension {big[0]} exceeds the DLA's {MAX_DIM}" if big else rule(node)
        if reason is not None:
            found.append(Unsupported(node.name, node.op.value, reason))
    return found
