"""``recognize-silu``: Mul(x, Sigmoid(x)), in either operand order, becomes SiLU(x).

A Sigmoid that has other uses stays for them; a Sigmoid that multiplies
anything but its own input is not a SiLU.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, produced_by, substitute


@dataclass(frozen=True)
class _Match:
    mul: Node
    x: Value


def _check(graph: Graph, mul: Node) -> _Match | str:
    a, b = mul.inputs
    for x, gate in ((a, b), (b, a)):
        sigmoid = produced_by(gate, Op.SIGMOID)
        if sigmoid is not None and x is not None and sigmoid.inputs[0] is x:
            return _Match(mul, x)
    return "no operand is the Sigmoid of the other"


def _replace(graph: Graph, match: _Match) -> None:
    silu = graph.make_node(Op.SILU, [match.x], like=match.mul.output, before=match.mul)
    substitute(graph, match.mul.output, silu.output, node_name=match.mul.name)


RULES = (Rule("mul-sigmoid-to-silu", frozenset({Op.MUL}), _check, _replace),)


@register("recognize-silu", NoOptions)
def recognize_silu(graph: Graph, options: NoOptions) -> int:
    """Replace Mul(x, Sigmoid(x)) by SiLU(x)."""
    return apply_rules(graph, RULES)
