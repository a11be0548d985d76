"""``low-rank``: truncated SVD of Gemm/MatMul and 1x1 Conv weights into two thinner layers.

``W`` [out, in] becomes ``(U sqrt(S)) (sqrt(S) V^T)``: a first layer in -> r
without bias, then the original layer r -> out that keeps its bias,
activation and name. A layer is factorized only where the pair costs at
most ``ratio`` of its MACs (r * (in + out) <= ratio * in * out); within that,
the rank is the smallest keeping ``energy`` of the squared singular values
(``energy`` 0: the largest rank the ratio allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.errors import UsageError
from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op
from edgec.ir.weight_matrices import replace_constant, weight_matrix, weighted_layers
from edgec.passes.manager import register


@dataclass(frozen=True)
class LowRankOptions:
    ratio: float = field(
        default=0.5, metadata={"help": "largest fraction of a layer's MACs the factorized pair may cost"}
    )
    energy: float = field(
        default=0.0, metadata={"help": "fraction of squared singular values kept (0: ratio decides)"}
    )


def _factorizable(node: Node) -> bool:
    if node.op is not Op.CONV:
        return True
    weight = node.const_input(1)
    return int(node.attrs["group"]) == 1 and weight.ndim == 4 and weight.shape[2:] == (1, 1)


def choose_rank(singular: np.ndarray, rows: int, cols: int, options: LowRankOptions) -> int:
    """The rank for a [rows, cols] weight, or 0 if no rank pays off."""
    limit = int(np.floor(options.ratio * rows * cols / (rows + cols)))
    if options.energy <= 0:
        return min(limit, singular.size)
    energy = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-30)
    return min(limit, int(np.searchsorted(energy, options.energy) + 1))


def _first_layer(graph: Graph, node: Node, factor: np.ndarray) -> Node:
    """The in -> r layer before ``node``, fed by the node's input."""
    x = node.inputs[0]
    rank = factor.shape[0]
    dtype = node.const_input(1).dtype
    if node.op is Op.CONV:
        weight = graph.constant(f"{node.name}_lowrank_w", factor.reshape(rank, -1, 1, 1).astype(dtype))
        shape = (node.output.shape[0], rank, *node.output.shape[2:])
        attrs = {k: v for k, v in node.attrs.items() if k not in ("activation", "activation_attrs")}
    elif node.op is Op.GEMM:
        weight = graph.constant(f"{node.name}_lowrank_w", factor.T.astype(dtype))
        shape = (x.shape[0], rank)
        attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    else:
        weight = graph.constant(f"{node.name}_lowrank_w", factor.T.astype(dtype))
        shape, attrs = (x.shape[0], rank), {}
    out = graph.add_value(f"{node.name}_lowrank", x.dtype, shape, node.output.layout)
    return graph.add_node(node.op, [x, weight], [out], attrs, name=out.name, before=node)


def factorize(graph: Graph, node: Node, rank: int, u: np.ndarray, s: np.ndarray, vt: np.ndarray) -> None:
    root = np.sqrt(s[:rank])
    first = _first_layer(graph, node, vt[:rank] * root[:, None])
    second = u[:, :rank] * root[None, :]  # [out, r]
    graph.set_input(node, 0, first.output)
    dtype = node.const_input(1).dtype
    if node.op is Op.CONV:
        node.attrs.update(strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1])
        replace_constant(graph, node, 1, second.reshape(*second.shape, 1, 1).astype(dtype))
    else:
        if node.op is Op.GEMM:
            node.attrs.update(alpha=1.0, transB=0)
        replace_constant(graph, node, 1, np.ascontiguousarray(second.T.astype(dtype)))


@register("low-rank", LowRankOptions)
def low_rank(graph: Graph, options: LowRankOptions) -> int:
    """Split Gemm/MatMul/1x1 Conv layers into two low-rank layers where that cuts MACs; returns how many."""
    if not 0.0 < options.ratio < 1.0 or not 0.0 <= options.energy <= 1.0:
        raise UsageError("pass 'low-rank': ratio must be in (0, 1) and energy in [0, 1]")
    count = 0
    for node in weighted_layers(graph):
        if not _factorizable(node):
            continue
        matrix = weight_matrix(node).astype(np.float64)
        u, s, vt = np.linalg.svd(matrix, full_matrices=False)
        rank = choose_rank(s, *matrix.shape, options)
        if rank >= 1:
            factorize(graph, node, rank, u, s, vt)
            count += 1
    return count
