"""``fuse-bias``: fold the Add of a constant into the bias of the Conv, ConvTranspose or Gemm before it.

For Conv and ConvTranspose the constant must hold one number per output
channel (shapes like [C,1,1], [1,C,1,1], or a single number); for Gemm it
may be anything that broadcasts to the output, as Gemm's C input does.
MatMul(x, W) + constant with 2-D ``x`` and a constant 2-D ``W`` becomes a
Gemm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

_PRODUCERS = (Op.CONV, Op.CONV_TRANSPOSE, Op.GEMM, Op.MATMUL)


@dataclass(frozen=True)
class _Match:
    add: Node
    producer: Node
    addend: np.ndarray


def _producer_reason(producer: Node, addend: np.ndarray) -> str | None:
    """Gemm's C broadcasts to the output like Add does; Conv biases hold one number per channel."""
    if producer.op is Op.MATMUL:
        x, weight = producer.inputs
        if x is None or x.rank != 2 or weight is None or weight.data is None or weight.rank != 2:
            return "MatMul becomes Gemm only with a 2-D input and a constant 2-D weight"
        return None
    if producer.attrs.get("activation") is not None:
        return f"'{producer.name}' already has a fused activation"
    if producer.input(2) is not None and producer.const_input(2) is None:
        return f"the bias of {producer.op} '{producer.name}' should be constant"
    return None if producer.op is Op.GEMM else per_channel_reason(producer, addend)


def _check(graph: Graph, add: Node) -> _Match | str:
    operands = constant_operand(add)
    if isinstance(operands, str):
        return operands
    value, addend = operands
    producer = value.producer
    if producer is None or producer.op not in _PRODUCERS:
        return "the non-constant operand is not produced by Conv, ConvTranspose, Gemm or MatMul"
    if addend.dtype != value.dtype or add.output.shape != value.shape:
        return "the constant would change the dtype or the shape of the output"
    # From here on the constant broadcasts to the producer's output shape.
    reason = sole_use_reason(graph, value) or _producer_reason(producer, addend)
    return reason if reason is not None else _Match(add, producer, addend)


def _fused_inputs(
    graph: Graph, producer: Node, addend: np.ndarray
) -> tuple[list[Value | None], dict[str, Any]]:
    attrs = dict(producer.attrs)
    if producer.op is Op.MATMUL:
        attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
        bias = addend
    elif producer.op is Op.GEMM:
        old = producer.const_input(2)
        bias = addend if old is None else float(attrs["beta"]) * old.astype(np.float64) + addend
        attrs["beta"] = 1.0
    else:
        channels = producer.output.shape[1]
        old = producer.const_input(2)
        bias = np.broadcast_to(addend.reshape(-1), (channels,)).astype(np.float64)
        bias = bias if old is None else old.astype(np.float64) + bias
    constant = graph.constant(f"{producer.name}_bias", np.asarray(bias).astype(addend.dtype))
    return [producer.inputs[0], producer.inputs[1], constant], attrs


def _fuse(graph: Graph, match: _Match) -> None:
    producer = match.producer
    op = Op.GEMM if producer.op is Op.MATMUL else producer.op
    inputs, attrs = _fused_inputs(graph, producer, match.addend)
    fused = graph.make_node(op, inputs, like=match.add.output, attrs=attrs, before=match.add)
    substitute(graph, match.add.output, fused.output, node_name=producer.name)


RULES = (Rule("add-into-bias", frozenset({Op.ADD}), _check, _fuse),)


@register("fuse-bias", NoOptions)
def fuse_bias(graph: Graph, options: NoOptions) -> int:
    """Fold Add of a per-channel constant into Conv/ConvTranspose/Gemm bias; MatMul + Add -> Gemm."""
    return apply_rules(graph, RULES)
