"""``fuse-activation``: an activation right after Conv, ConvTranspose or Gemm becomes an attribute of it.

The producer gets ``activation=Op.X`` and ``activation_attrs`` (Clip:
``{"min", "max"}`` from its constant bounds, LeakyRelu: ``{"alpha"}``,
HardSigmoid: ``{"alpha", "beta"}``, the others ``{}``). The producer's output
must have no other use and no activation yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import FUSABLE, FUSABLE_ACTIVATIONS, Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, produced_by, scalar, sole_use_reason, substitute


@dataclass(frozen=True)
class _Match:
    activation: Node
    producer: Node
    attrs: dict[str, Any]


def _activation_attrs(node: Node) -> dict[str, Any] | str:
    if node.op is not Op.CLIP:
        return {key: float(node.attrs[key]) for key in FUSABLE_ACTIVATIONS[node.op]}
    bounds = {}
    for key, index, default in (("min", 1, float("-inf")), ("max", 2, float("inf"))):
        bound = node.input(index)
        number = default if bound is None else scalar(bound)
        if number is None:
            return f"the {key} bound of Clip should be a constant number"
        bounds[key] = number
    return bounds


def _check(graph: Graph, node: Node) -> _Match | str:
    producer = produced_by(node.inputs[0], *FUSABLE)
    if producer is None:
        return "the input is not produced by Conv, ConvTranspose or Gemm"
    if producer.attrs.get("activation") is not None:
        return f"'{producer.name}' already has a fused activation"
    reason = sole_use_reason(graph, producer.output)
    if reason is not None:
        return reason
    attrs = _activation_attrs(node)
    return attrs if isinstance(attrs, str) else _Match(node, producer, attrs)


def _fuse(graph: Graph, match: _Match) -> None:
    producer, activation = match.producer, match.activation
    attrs = {**producer.attrs, "activation": activation.op, "activation_attrs": match.attrs}
    fused = graph.make_node(
        producer.op, producer.inputs, like=activation.output, attrs=attrs, before=activation
    )
    substitute(graph, activation.output, fused.output, node_name=producer.name)


RULES = (Rule("activation-into-producer", frozenset(FUSABLE_ACTIVATIONS), _check, _fuse),)


@register("fuse-activation", NoOptions)
def fuse_activation(graph: Graph, options: NoOptions) -> int:
    """Fuse Relu, Clip, Sigmoid, SiLU, HardSwish, HardSigmoid, LeakyRelu or Tanh into Conv/Gemm."""
    return apply_rules(graph, RULES)
