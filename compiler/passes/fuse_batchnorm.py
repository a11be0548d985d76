"""``fuse-batchnorm``: fold an inference BatchNormalization into the Conv, ConvTranspose or Gemm before it.

BatchNormalization is ``y = s * x + t`` per channel, with
``s = scale / sqrt(var + epsilon)`` and ``t = B - mean * s``. The producer's
output channels are scaled by ``s`` (Conv weights are C_out x C_in/g x k...,
ConvTranspose weights C_in x C_out/g x k..., Gemm's B is K x N, or N x K
when transB) and ``t`` is added to its bias. A BatchNormalization with no
such producer stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, produced_by, sole_use_reason, substitute


@dataclass(frozen=True)
class _Match:
    bn: Node
    producer: Node
    scale: np.ndarray
    shift: np.ndarray


def _producer_reason(producer: Node) -> str | None:
    if producer.attrs.get("activation") is not None:
        return f"'{producer.name}' already has a fused activation"
    if producer.const_input(1) is None:
        return f"the weight of {producer.op} '{producer.name}' should be constant"
    if producer.input(2) is not None and producer.const_input(2) is None:
        return f"the bias of {producer.op} '{producer.name}' should be constant"
    return None


def _check(graph: Graph, bn: Node) -> _Match | str:
    if bn.attrs.get("training_mode", 0) or len(bn.outputs) != 1:
        return "BatchNormalization is in training form"
    params = [bn.const_input(index) for index in range(1, 5)]
    if any(param is None for param in params):
        return "scale, B, mean and var of BatchNormalization should be constant"
    producer = produced_by(bn.inputs[0], Op.CONV, Op.CONV_TRANSPOSE, Op.GEMM)
    if producer is None:
        return "the input is not produced by Conv, ConvTranspose or Gemm"
    reason = sole_use_reason(graph, producer.output) or _producer_reason(producer)
    if reason is not None:
        return reason
    scale, bias, mean, var = (np.asarray(param, dtype=np.float64) for param in params)
    s = scale / np.sqrt(var + float(bn.attrs["epsilon"]))
    return _Match(bn, producer, s, bias - mean * s)


def _scale_weight(producer: Node, weight: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Scale the producer's output channels of ``weight`` by ``s``."""
    if producer.op is Op.CONV:
        return weight * s.reshape(-1, *[1] * (weight.ndim - 1))
    if producer.op is Op.CONV_TRANSPOSE:
        group = int(producer.attrs["group"])
        c_in, c_out_g, *kernel = weight.shape
        grouped = weight.reshape(group, c_in // group, c_out_g, *kernel)
        scaled = grouped * s.reshape(group, 1, c_out_g, *[1] * len(kernel))
        return scaled.reshape(weight.shape)
    return weight * (s[:, None] if producer.attrs["transB"] else s[None, :])


def _fuse(graph: Graph, match: _Match) -> None:
    producer, s, t = match.producer, match.scale, match.shift
    weight = producer.const_input(1)
    bias = producer.const_input(2)
    attrs = dict(producer.attrs)
    if producer.op is Op.GEMM:
        new_bias = t if bias is None else float(attrs["beta"]) * bias.astype(np.float64) * s + t
        attrs["beta"] = 1.0
    else:
        new_bias = t if bias is None else bias.astype(np.float64) * s + t
    new_weight = _scale_weight(producer, weight.astype(np.float64), s)
    inputs = [
        producer.inputs[0],
        graph.constant(f"{producer.name}_weight_bn", new_weight.astype(weight.dtype)),
        graph.constant(f"{producer.name}_bias_bn", new_bias.astype(weight.dtype)),
    ]
    fused = graph.make_node(producer.op, inputs, like=match.bn.output, attrs=attrs, before=match.bn)
    substitute(graph, match.bn.output, fused.output, node_name=producer.name)


RULES = (Rule("batchnorm-into-producer", frozenset({Op.BATCH_NORMALIZATION}), _check, _fuse),)


@register("fuse-batchnorm", NoOptions)
def fuse_batchnorm(graph: Graph, options: NoOptions) -> int:
    """Fold inference BatchNormalization into the Conv, ConvTranspose or Gemm before it."""
    return apply_rules(graph, RULES)
