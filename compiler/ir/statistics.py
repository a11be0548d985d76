"""What a graph holds and what it costs, counted from the IR alone.

- op histogram;
- weights: the constant inputs of nodes, each counted once, except inputs
  that configure an op rather than hold learned values (shapes, axes, pads,
  Clip bounds, Resize scales, ...: ``CONFIG_INPUTS``);
- MACs (multiply-accumulates) per node for Conv (grouped and depthwise
  included), ConvTranspose, Gemm, MatMul, LSTM, GRU and RNN. Every other op
  counts 0 MACs;
- peak activation memory over the node order.

``edgec inspect`` (``edgec.analysis``) reports them; compression accounts
with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from edgec.errors import ShapeError
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op

# Inputs (by index) that configure an op instead of holding learned weights.
CONFIG_INPUTS: Mapping[Op, frozenset[int]] = {
    Op.CLIP: frozenset({1, 2}),
    Op.CONSTANT_OF_SHAPE: frozenset({0}),
    Op.EXPAND: frozenset({1}),
    Op.GATHER: frozenset({1}),
    Op.LSTM: frozenset({4}),
    Op.GRU: frozenset({4}),
    Op.RNN: frozenset({4}),
    Op.PAD: frozenset({1, 2, 3}),
    Op.RANGE: frozenset({0, 1, 2}),
    Op.REDUCE_MAX: frozenset({1}),
    Op.REDUCE_MEAN: frozenset({1}),
    Op.REDUCE_SUM: frozenset({1}),
    Op.RESHAPE: frozenset({1}),
    Op.RESIZE: frozenset({1, 2, 3}),
    Op.SLICE: frozenset({1, 2, 3, 4}),
    Op.SPLIT: frozenset({1}),
    Op.SQUEEZE: frozenset({1}),
    Op.UNSQUEEZE: frozenset({1}),
}


def static_shape(value: Value | None) -> tuple[int, ...]:
    if value is None or value.shape is None:
        name = value.name if value is not None else "a missing input"
        raise ShapeError(
            f"the analysis needs static shapes, and '{name}' has none; fix the input shapes first"
        )
    return value.shape


def _prod(dims: Sequence[int]) -> int:
    return int(np.prod(dims, dtype=np.int64))


def _conv_macs(node: Node) -> int:
    # Weight [M, C/group, k...]: each output element takes C/group * prod(k) MACs.
    return _prod(static_shape(node.output)) * _prod(static_shape(node.input(1))[1:])


def _conv_transpose_macs(node: Node) -> int:
    # Weight [C, M/group, k...]: each input element feeds M/group * prod(k) MACs.
    return _prod(static_shape(node.input(0))) * _prod(static_shape(node.input(1))[1:])


def _gemm_macs(node: Node) -> int:
    a = static_shape(node.input(0))
    inner = a[0] if node.attrs.get("transA", 0) else a[1]
    return _prod(static_shape(node.output)) * inner


def _matmul_macs(node: Node) -> int:
    return _prod(static_shape(node.output)) * static_shape(node.input(0))[-1]


def _lstm_macs(node: Node) -> int:
    # LSTM, GRU, RNN: X [seq, batch, in] (layout 0) or [batch, seq, in]; W [dirs, gates * H, in];
    # R [dirs, gates * H, H] (4 gates, 3 or 1).
    seq_len, batch = static_shape(node.input(0))[:2]
    dirs, gates, inputs = static_shape(node.input(1))
    hidden = static_shape(node.input(2))[2]
    return dirs * seq_len * batch * gates * (inputs + hidden)


MAC_RULES: Mapping[Op, Callable[[Node], int]] = {
    Op.CONV: _conv_macs,
    Op.CONV_TRANSPOSE: _conv_transpose_macs,
    Op.GEMM: _gemm_macs,
    Op.MATMUL: _matmul_macs,
    Op.LSTM: _lstm_macs,
    Op.GRU: _lstm_macs,
    Op.RNN: _lstm_macs,
}


def node_macs(node: Node) -> int:
    """Multiply-accumulates of one node (0 for ops without a MAC rule)."""
    rule = MAC_RULES.get(node.op)
    return rule(node) if rule is not None else 0


def op_histogram(graph: Graph) -> dict[str, int]:
    """Node count per op, most frequent first (ties by op name)."""
    counts: dict[str, int] = {}
    for node in graph.nodes:
        counts[node.op.value] = counts.get(node.op.value, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def weight_values(graph: Graph) -> list[Value]:
    """The distinct constant inputs of nodes that hold weights (not configuration)."""
    found: dict[int, Value] = {}
    for node in graph.nodes:
        config = CONFIG_INPUTS.get(node.op, frozenset())
        for index, value in enumerate(node.inputs):
            if value is not None and value.is_constant and index not in config:
                found.setdefault(id(value), value)
    return list(found.values())


def peak_memory(graph: Graph) -> dict[str, Any]:
    """Peak bytes of live non-constant values over the node order, and where it occurs."""
    last = len(graph.nodes) - 1
    step_of = {id(node): step for step, node in enumerate(graph.nodes)}
    spans: list[tuple[int, int, int]] = []
    for value in graph.values.values():
        if value.is_constant or (value.producer is None and value not in graph.inputs):
            continue
        start = step_of[id(value.producer)] if value.producer is not None else 0
        end = max((step_of[id(user)] for user, _ in value.uses), default=start)
        if value in graph.outputs:
            end = max(last, start)
        spans.append((start, end, value.nbytes))
    if last < 0:
        return {"bytes": sum(nbytes for _, _, nbytes in spans), "step": None, "node": None}
    live = np.zeros(last + 2, dtype=np.int64)
    for start, end, nbytes in spans:
        live[start] += nbytes
        live[end + 1] -= nbytes
    per_step = np.cumsum(live[:-1])
    step = int(np.argmax(per_step))
    return {"bytes": int(per_step[step]), "step": step, "node": graph.nodes[step].name}
