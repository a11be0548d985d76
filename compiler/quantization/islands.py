"""Float islands: the nodes of a normalization that int8 kernels cannot compute accurately.

A LayerNorm written out in ONNX ops (``(x - mean) / sqrt(mean((x - mean)^2) + eps)``, as
PaddlePaddle and many exporters emit it) squares, averages and takes the root of its input in
per-tensor int8: the variance of a row spans orders of magnitude across rows, so small ones round
to zero and the quotient blows up (TFLite's int8 DIV even fails at run time on a zero divisor).
These nodes stay in float on targets that run float layers; the rest of the model stays int8.

The seeds are powers, square roots, reciprocals, exponentials and logarithms of activations, and
divisions by an activation; an island also takes in the nodes computed from seeds alone that feed
another seed (the mean and the epsilon ``Add`` between ``Pow`` and ``Sqrt``), so that no int8
step is left inside.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op

SEED_OPS = frozenset({Op.POW, Op.SQRT, Op.RECIPROCAL, Op.EXP, Op.LOG})


@dataclass(frozen=True)
class Island:
    """One node kept in float, and why."""

    node: str
    op: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"node": self.node, "op": self.op, "reason": self.reason}


def _seed_reason(node: Node) -> str | None:
    computed = [v for v in node.inputs if v is not None and not v.is_constant]
    if not computed:
        return None
    if node.op in SEED_OPS:
        return f"{node.op.value} of an activation has no accurate per-tensor int8 form"
    divisor = node.input(1)
    if node.op is Op.DIV and divisor is not None and not divisor.is_constant:
        return "division by an activation (int8 rounds small divisors to zero)"
    return None


def float_islands(graph: Graph) -> list[Island]:
    """The nodes to keep in float, in graph order (empty for a CNN)."""
    reasons = {node.name: r for node in graph.nodes if (r := _seed_reason(node)) is not None}
    if not reasons:
        return []
    # Nodes computed from seeds alone (forward), of which those that feed a seed (backward).
    derived: set[str] = set()
    for node in graph.nodes:
        producers = [v.producer for v in node.inputs if v is not None and not v.is_constant]
        if (
            node.name not in reasons
            and producers
            and all(p is not None and (p.name in reasons or p.name in derived) for p in producers)
        ):
            derived.add(node.name)
    between: set[str] = set()
    for node in reversed(graph.nodes):
        uses = [use.name for v in node.outputs for use in v.users()]
        if node.name in derived and any(u in reasons or u in between for u in uses):
            between.add(node.name)
    return [
        Island(node.name, node.op.value, reasons.get(node.name, "between two float nodes of a normalization"))
        for node in graph.nodes
        if node.name in reasons or node.name in between
    ]
