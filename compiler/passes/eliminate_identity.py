"""``eliminate-identity``: remove ops that do nothing, and collapse chains that do one thing.

No-ops: Identity (Dropout is imported as Identity), Transpose with the
identity permutation, Reshape/Expand/Squeeze to the same shape (an
Unsqueeze always adds axes), Cast to the same dtype, Pad with all-zero
pads. Chains: Transpose of
Transpose becomes one Transpose, Reshape of Reshape one Reshape. Graph
output names never change: the value that replaces an output takes its name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import Rule, apply_rules, output_name_reason, produced_by, substitute


@dataclass(frozen=True)
class _Noop:
    node: Node
    source: Value


def _noop(graph: Graph, node: Node) -> _Noop | str:
    source, out = node.inputs[0], node.output
    if source is None:
        return "the data input is missing"
    if source.dtype != out.dtype or source.shape != out.shape:
        return f"'{source.name}' and '{out.name}' differ in dtype or shape"
    return output_name_reason(graph, out, source) or _Noop(node, source)


def _check_transpose(graph: Graph, node: Node) -> _Noop | str:
    if list(node.attrs["perm"]) != list(range(node.output.rank)):
        return f"perm {list(node.attrs['perm'])} is not the identity"
    return _noop(graph, node)


def _check_same_shape(graph: Graph, node: Node) -> _Noop | str:
    source = node.inputs[0]
    if source is None or source.shape != node.output.shape:
        return "the output shape differs from the input shape"
    return _noop(graph, node)


def _check_cast(graph: Graph, node: Node) -> _Noop | str:
    source = node.inputs[0]
    if source is None or np.dtype(node.attrs["to"]) != source.dtype:
        return f"Cast changes the dtype to {np.dtype(node.attrs['to']).name}"
    return _noop(graph, node)


def _check_pad(graph: Graph, node: Node) -> _Noop | str:
    pads = node.const_input(1)
    if pads is None:
        return "the pads of Pad should be constant"
    if np.any(pads != 0):
        return f"pads {pads.tolist()} are not all zero"
    return _noop(graph, node)


def _remove_noop(graph: Graph, match: _Noop) -> None:
    substitute(graph, match.node.output, match.source)


@dataclass(frozen=True)
class _Chain:
    node: Node
    first: Node


def _chain(node: Node, op: Op) -> _Chain | str:
    first = produced_by(node.inputs[0], op)
    if first is None:
        return f"the input is not produced by a {op}"
    return _Chain(node, first)


def _check_transpose_pair(graph: Graph, node: Node) -> _Chain | str:
    return _chain(node, Op.TRANSPOSE)


def _compose_transposes(graph: Graph, match: _Chain) -> None:
    node, first = match.node, match.first
    perm = [int(first.attrs["perm"][axis]) for axis in node.attrs["perm"]]
    fused = graph.make_node(
        Op.TRANSPOSE, [first.inputs[0]], like=node.output, attrs={"perm": perm}, before=node
    )
    substitute(graph, node.output, fused.output, node_name=node.name)


def _check_reshape_pair(graph: Graph, node: Node) -> _Chain | str:
    if 0 in node.output.shape:
        return f"the output shape {list(node.output.shape)} has a zero dim"
    return _chain(node, Op.RESHAPE)


def _skip_first_reshape(graph: Graph, match: _Chain) -> None:
    node, first = match.node, match.first
    shape = graph.constant(f"{node.name}_shape", np.array(node.output.shape, dtype=np.int64))
    fused = graph.make_node(
        Op.RESHAPE, [first.inputs[0], shape], like=node.output, attrs=node.attrs, before=node
    )
    substitute(graph, node.output, fused.output, node_name=node.name)


RULES: tuple[Rule, ...] = (
    Rule("identity", frozenset({Op.IDENTITY}), _noop, _remove_noop),
    Rule("identity-transpose", frozenset({Op.TRANSPOSE}), _check_transpose, _remove_noop),
    Rule(
        "same-shape",
        frozenset({Op.RESHAPE, Op.EXPAND, Op.SQUEEZE}),
        _check_same_shape,
        _remove_noop,
    ),
    Rule("same-dtype-cast", frozenset({Op.CAST}), _check_cast, _remove_noop),
    Rule("zero-pad", frozenset({Op.PAD}), _check_pad, _remove_noop),
    Rule("transpose-transpose", frozenset({Op.TRANSPOSE}), _check_transpose_pair, _compose_transposes),
    Rule("reshape-reshape", frozenset({Op.RESHAPE}), _check_reshape_pair, _skip_first_reshape),
)


@register("eliminate-identity", NoOptions)
def eliminate_identity(graph: Graph, options: NoOptions) -> int:
    """Remove no-op nodes and collapse Transpose/Reshape chains; graph output names stay."""
    return apply_rules(graph, RULES)
