"""``fuse-scale``: fold the Mul by a constant into the weights and bias of the Conv before it.

``Conv(x, W, b) * s`` with ``s`` one number per output channel (shapes like [C,1,1], [1,C,1,1],
or a single number) is ``Conv(x, W * s, b * s)``. PaddlePaddle's PP-LCNetV3 (PP-OCRv4's
backbone) follows most convolutions with such a scale and an Add ("learnable affine blocks");
with the scale folded, ``fuse-bias`` folds the Add, and an int8 build quantizes one tensor
where it quantized three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import (
    Rule,
    apply_rules,
    constant_operand,
    per_channel_reason,
    sole_use_reason,
    substitute,
)


@dataclass(frozen=True)
class _Match:
    mul: Node
    conv: Node
    scale: np.ndarray


def _conv_reason(conv: Node, scale: np.ndarray) -> str | None:
    if conv.attrs.get("activation") is not None:
        return f"'{conv.name}' already has a fused activation"
    if conv.const_input(1) is None or (conv.input(2) is not None and conv.const_input(2) is None):
        return f"the weight and bias of Conv '{conv.name}' should be constant"
    return per_channel_reason(conv, scale)


def _check(graph: Graph, mul: Node) -> _Match | str:
    operands = constant_operand(mul)
    if isinstance(operands, str):
        return operands
    value, scale = operands
    conv = value.producer
    if conv is None or conv.op is not Op.CONV:
        return "the non-constant operand is not produced by a Conv"
    if scale.dtype != value.dtype or mul.output.shape != value.shape:
        return "the constant would change the dtype or the shape of the output"
    reason = sole_use_reason(graph, value) or _conv_reason(conv, scale)
    return reason if reason is not None else _Match(mul, conv, scale)


def _fuse(graph: Graph, match: _Match) -> None:
    conv = match.conv
    channels = conv.output.shape[1]
    scale = np.broadcast_to(match.scale.reshape(-1).astype(np.float64), (channels,))
    weight = conv.const_input(1)
    assert weight is not None
    scaled = (weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))).astype(weight.dtype)
    inputs: list[Value | None] = [conv.inputs[0], graph.constant(f"{conv.name}_scaled_w", scaled)]
    bias = conv.const_input(2)
    if bias is not None:
        inputs.append(
            graph.constant(f"{conv.name}_scaled_b", (bias.astype(np.float64) * scale).astype(bias.dtype))
        )
    fused = graph.make_node(Op.CONV, inputs, like=match.mul.output, attrs=dict(conv.attrs), before=match.mul)
    substitute(graph, match.mul.output, fused.output, node_name=conv.name)


RULES = (Rule("mul-into-conv", frozenset({Op.MUL}), _check, _fuse),)


@register("fuse-scale", NoOptions)
def fuse_scale(graph: Graph, options: NoOptions) -> int:
    """Fold Mul by a per-channel constant into the Conv before it (weights and bias)."""
    return apply_rules(graph, RULES)
