"""Local rewrites as data: a pattern, a check and a replacement.

A ``Rule`` is anchored on a set of ops (its pattern). Its ``check`` looks at
one anchor node and returns either a match (whatever the replacement needs)
or a string saying why the rule does not apply ("the weight of Conv should
be constant"), so ``explain`` can tell why a rule did not fire. Its
``replace`` performs the rewrite for a match. ``apply_rules`` sweeps the
graph until no rule fires.

The helpers below are shared by the rules: ``substitute`` swaps a value for
its replacement, removes what became dead and keeps tensor names stable
(graph output names never change).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from edgec.errors import VerificationError
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op

M = TypeVar("M")


@dataclass(frozen=True)
class Rule(Generic[M]):
    """``check(graph, node)`` returns a match, or the reason the rule does not apply."""

    name: str
    pattern: frozenset[Op]
    check: Callable[[Graph, Node], M | str]
    replace: Callable[[Graph, M], None]


def apply_rules(graph: Graph, rules: Sequence[Rule[Any]], max_sweeps: int = 50) -> int:
    """Apply ``rules`` until none fires; returns the number of rewrites."""
    total = 0
    for _ in range(max_sweeps):
        count = _sweep(graph, rules)
        total += count
        if count == 0:
            break
    if total:
        graph.prune_unused_constants()
    return total


def _sweep(graph: Graph, rules: Sequence[Rule[Any]]) -> int:
    count = 0
    for node in list(graph.nodes):
        for rule in rules:
            if not is_alive(node):
                break
            if node.op not in rule.pattern:
                continue
            match = rule.check(graph, node)
            if not isinstance(match, str):
                rule.replace(graph, match)
                count += 1
    return count


def explain(graph: Graph, rule: Rule[Any]) -> dict[str, str]:
    """For every node the rule is anchored on but refuses: node name -> reason."""
    reasons = {}
    for node in graph.nodes:
        if node.op in rule.pattern:
            match = rule.check(graph, node)
            if isinstance(match, str):
                reasons[node.name] = match
    return reasons


# -- queries shared by the checks ------------------------------------------


def constant_operand(node: Node) -> tuple[Value, np.ndarray] | str:
    """A binary node's non-constant operand and the constant one, in either order (else why not)."""
    a, b = node.inputs
    if a is None or b is None or (a.data is None) == (b.data is None):
        return f"{node.op} should have exactly one constant operand"
    return (b, a.data) if a.data is not None else (a, b.data)


def per_channel_reason(producer: Node, constant: np.ndarray) -> str | None:
    """Why ``constant`` does not hold one number per output channel (dim 1) of ``producer``."""
    shape = producer.output.shape
    padded = (1,) * (len(shape) - constant.ndim) + constant.shape
    if len(padded) != len(shape) or any(d != 1 for i, d in enumerate(padded) if i != 1):
        return f"a constant of shape {list(constant.shape)} is not per output channel of {list(shape)}"
    return None


def is_alive(node: Node) -> bool:
    """False once the node has been removed from its graph."""
    return all(value.producer is node for value in node.outputs)


def produced_by(value: Value | None, *ops: Op) -> Node | None:
    """The producer of ``value`` if it is one of ``ops``."""
    if value is None or value.producer is None or value.producer.op not in ops:
        return None
    return value.producer


def sole_use_reason(graph: Graph, value: Value) -> str | None:
    """Why ``value`` cannot be folded into its consumer: other users, or a graph output."""
    if value in graph.outputs:
        return f"'{value.name}' is a graph output"
    if len(value.uses) != 1:
        return f"'{value.name}' has {len(value.uses)} uses"
    return None


def scalar(value: Value | None) -> float | None:
    """The number held by a one-element constant, else None."""
    if value is None or value.data is None or value.data.size != 1:
        return None
    return float(value.data.reshape(()))


def is_close(value: Value | None, expected: float, tol: float = 1e-6) -> bool:
    number = scalar(value)
    return number is not None and abs(number - expected) <= tol * max(1.0, abs(expected))


def _can_take_name(graph: Graph, value: Value) -> bool:
    node = value.producer
    return node is not None and len(node.outputs) == 1 and value not in graph.outputs


def output_name_reason(graph: Graph, old: Value, new: Value) -> str | None:
    """Why ``old`` cannot be replaced by ``new``: a graph output would change its name."""
    if old in graph.outputs and not _can_take_name(graph, new):
        return (
            f"'{old.name}' is a graph output and '{new.name}' cannot take its name "
            "(it is a graph input, a constant, a graph output or one of several outputs)"
        )
    return None


# -- edits shared by the replacements -----------------------------------------


def remove_if_dead(graph: Graph, node: Node | None) -> None:
    """Remove ``node`` if nothing uses its outputs, then its producers that became unused."""
    pending = [node] if node is not None else []
    while pending:
        current = pending.pop()
        if not is_alive(current) or any(v.uses or v in graph.outputs for v in current.outputs):
            continue
        pending += [v.producer for v in current.inputs if v is not None and v.producer is not None]
        graph.remove_node(current)


def substitute(graph: Graph, old: Value, new: Value, node_name: str | None = None) -> Value:
    """Make ``new`` stand for ``old``; returns the value that now does.

    Every use of ``old`` moves to ``new``, the nodes left unused are removed,
    and ``new`` takes the name of ``old`` (its producer is re-created under
    ``node_name``, or its own name) so tensor names downstream, graph
    outputs above all, stay as they were. Checks call ``output_name_reason``
    first: a graph output that cannot keep its name is a bug of the pass.
    """
    name, was_output = old.name, old in graph.outputs
    renamable = _can_take_name(graph, new)
    graph.replace_all_uses(old, new)
    remove_if_dead(graph, old.producer)
    if renamable and new.producer is not None and name not in graph.values:  # a dead old: new may be gone
        return _rename(graph, new, name, node_name)
    if was_output:
        raise VerificationError(f"replacing graph output '{name}' by '{new.name}' would rename it")
    return new


def _rename(graph: Graph, value: Value, name: str, node_name: str | None) -> Value:
    node = value.producer
    assert node is not None
    renamed = graph.add_value(name, value.dtype, value.shape, value.layout)
    renamed.quant = value.quant
    graph.add_node(node.op, node.inputs, [renamed], node.attrs, name=node_name or node.name, before=node)
    graph.replace_all_uses(value, renamed)
    graph.remove_node(node)
    return renamed


def unfuse_padding(graph: Graph, conv: Node, fill: float) -> None:
    """Move a Conv's ``pads`` into a constant ``Pad`` of its input with value ``fill`` (undoes fuse-pad)."""
    pads = [int(p) for p in conv.attrs["pads"]]
    source = conv.inputs[0]
    if not any(pads) or source is None or source.shape is None:
        return
    rank = len(pads) // 2
    spatial = (d + pads[i] + pads[i + rank] for i, d in enumerate(source.shape[2:]))
    amounts = np.asarray([0, 0, *pads[:rank], 0, 0, *pads[rank:]], np.int64)
    inputs = [
        source,
        graph.constant(f"{conv.name}_pads", amounts),
        graph.constant(f"{conv.name}_pad_value", np.asarray(fill, source.dtype)),
    ]
    padded = graph.add_value(
        f"{source.name}_padded", source.dtype, (*source.shape[:2], *spatial), source.layout
    )
    graph.add_node(Op.PAD, inputs, [padded], {"mode": "constant"}, before=conv)
    graph.set_input(conv, 0, padded)
    conv.attrs["pads"] = [0] * len(pads)


def route_through(graph: Graph, value: Value, op: Op, operand: Value, output: str) -> Value:
    """Every use of ``value`` reads ``op(value, operand)`` instead: a new node, named ``output`` like
    its output, before the first use. Returns that output."""
    uses = list(value.uses)
    routed = graph.add_value(output, value.dtype, value.shape, value.layout)
    graph.add_node(op, [value, operand], [routed], name=routed.name, before=uses[0][0])
    for node, index in uses:
        graph.set_input(node, index, routed)
    return routed
