"""``recognize-hardswish``: the spellings of x * relu6(x + 3) / 6 become HardSwish(x).

    Mul(x, HardSigmoid(x))                 with alpha = 1/6, beta = 0.5
    Mul(x, Clip(x + 3, 0, 6) / 6)          (or * 1/6)
    Div(Mul(x, Clip(x + 3, 0, 6)), 6)      (or * 1/6; PaddlePaddle's export)

Operands of Add and Mul may come in either order. A HardSigmoid gating a
different tensor (squeeze-excite) is not a HardSwish and stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, is_close, produced_by, sole_use_reason, substitute


@dataclass(frozen=True)
class _Match:
    node: Node
    x: Value


def _pairs(node: Node) -> tuple[tuple[Value | None, Value | None], ...]:
    a, b = node.inputs
    return ((a, b), (b, a))


def _relu6_of_x_plus_3(value: Value | None) -> Value | None:
    """``x`` when ``value`` is Clip(x + 3, 0, 6)."""
    clip = produced_by(value, Op.CLIP)
    if clip is None or not (is_close(clip.input(1), 0.0) and is_close(clip.input(2), 6.0)):
        return None
    add = produced_by(clip.inputs[0], Op.ADD)
    if add is None:
        return None
    for x, three in _pairs(add):
        if x is not None and x.data is None and is_close(three, 3.0):
            return x
    return None


def _sixth_of(value: Value | None) -> Value | None:
    """``v`` when ``value`` is v / 6 or v * (1/6)."""
    node = produced_by(value, Op.DIV, Op.MUL)
    if node is None:
        return None
    if node.op is Op.DIV:
        return node.inputs[0] if is_close(node.input(1), 6.0) else None
    for v, sixth in _pairs(node):
        if is_close(sixth, 1.0 / 6.0):
            return v
    return None


def _hard_sigmoid_input(value: Value | None) -> Value | None:
    """``x`` when ``value`` is HardSigmoid(x) with alpha 1/6 and beta 0.5, in any spelling."""
    node = produced_by(value, Op.HARD_SIGMOID)
    if node is not None:
        alpha, beta = float(node.attrs["alpha"]), float(node.attrs["beta"])
        exact = abs(alpha - 1.0 / 6.0) <= 1e-6 and abs(beta - 0.5) <= 1e-6
        return node.inputs[0] if exact else None
    return _relu6_of_x_plus_3(_sixth_of(value))


def _match(node: Node, x: Value) -> _Match | str:
    if x.shape != node.output.shape or x.dtype != node.output.dtype:
        return "the product broadcasts beyond the shape of x"
    return _Match(node, x)


def _check(graph: Graph, node: Node) -> _Match | str:
    if node.op is Op.MUL:
        for x, gate in _pairs(node):
            if x is not None and _hard_sigmoid_input(gate) is x:
                return _match(node, x)
    product = _sixth_of(node.output)
    inner = produced_by(product, Op.MUL)
    if product is not None and inner is not None:
        for x, relu6 in _pairs(inner):
            if x is not None and _relu6_of_x_plus_3(relu6) is x:
                return sole_use_reason(graph, product) or _match(node, x)
    return "neither x * HardSigmoid(x) nor x * Clip(x + 3, 0, 6) / 6"


def _replace(graph: Graph, match: _Match) -> None:
    hardswish = graph.make_node(Op.HARD_SWISH, [match.x], like=match.node.output, before=match.node)
    substitute(graph, match.node.output, hardswish.output, node_name=match.node.name)


RULES = (Rule("hardswish", frozenset({Op.MUL, Op.DIV}), _check, _replace),)


@register("recognize-hardswish", NoOptions)
def recognize_hardswish(graph: Graph, options: NoOptions) -> int:
    """Replace x * HardSigmoid(x) and x * Clip(x + 3, 0, 6) / 6 by HardSwish(x)."""
    return apply_rules(graph, RULES)
