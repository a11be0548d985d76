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

A spectrum is the other island: a power or root of a weighted layer's output, reached through
data movement alone (an STFT written as a Conv with Fourier bases, sliced into its real and
imaginary halves, squared and rooted, as the Silero VAD computes it). Its magnitudes span orders
of magnitude from bin to bin, so the transform's output and the magnitude itself both lose the
small bins in per-tensor int8: the transform and the weighted layers that read the magnitude
(through data movement) stay in float with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op

SEED_OPS = frozenset({Op.POW, Op.SQRT, Op.RECIPROCAL, Op.EXP, Op.LOG})
# Layers with constant weights that compute a transform, and ops that only move data.
WEIGHTED_OPS = frozenset({Op.CONV, Op.GEMM, Op.MATMUL})
MOVEMENT_OPS = frozenset(
    {
        Op.SLICE,
        Op.CAST,
        Op.RESHAPE,
        Op.SQUEEZE,
        Op.UNSQUEEZE,
        Op.TRANSPOSE,
        Op.SPLIT,
        Op.PAD,
        Op.IDENTITY,
        Op.FLATTEN,
    }
)
SPECTRAL_OPS = frozenset({Op.POW, Op.SQRT})
BETWEEN = "between two float nodes (of a normalization or a spectrum)"


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


def _weighted(node: Node | None) -> bool:
    weight = node.input(1) if node is not None else None
    return node is not None and node.op in WEIGHTED_OPS and weight is not None and weight.is_constant


def _through_movement(node: Node) -> Node | None:
    """The producer of ``node``'s first computed input, past data movement."""
    value = next((v for v in node.inputs if v is not None and not v.is_constant), None)
    while value is not None and value.producer is not None and value.producer.op in MOVEMENT_OPS:
        value = value.producer.inputs[0]
    return value.producer if value is not None else None


def _readers(node: Node) -> list[Node]:
    """The nodes that read ``node``'s outputs, past data movement."""
    found, pending = [], [use for v in node.outputs for use in v.users()]
    while pending:
        use = pending.pop()
        if use.op in MOVEMENT_OPS:
            pending += [u for v in use.outputs for u in v.users()]
        else:
            found.append(use)
    return found


def _spectra(graph: Graph) -> dict[str, str]:
    """The transforms whose output a power or root takes, and the weighted layers that read the
    spectrum computed from them (past data movement), with why each stays in float."""
    found: dict[str, str] = {}
    spectral: set[str] = set()
    for node in graph.nodes:
        computed = [v.producer for v in node.inputs if v is not None and not v.is_constant]
        transform = _through_movement(node) if node.op in SPECTRAL_OPS else None
        if transform is not None and _weighted(transform):
            spectral.add(node.name)
            found[transform.name] = (
                f"transform whose output '{node.name}' squares or roots (a spectrum: its bins span "
                f"orders of magnitude, which per-tensor int8 cannot hold)"
            )
        elif computed and not _weighted(node) and all(p is not None and p.name in spectral for p in computed):
            spectral.add(node.name)
    for node in graph.nodes:
        if node.name not in spectral:
            continue
        for reader in _readers(node):
            if _weighted(reader) and reader.name not in found:
                found[reader.name] = (
                    f"reads the spectrum '{node.name}' (per-tensor int8 of its input loses the small bins)"
                )
    return found


def float_islands(graph: Graph) -> list[Island]:
    """The nodes to keep in float, in graph order (empty for a CNN)."""
    reasons = {node.name: r for node in graph.nodes if (r := _seed_reason(node)) is not None}
    if not reasons:
        return []
    reasons |= _spectra(graph)
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
        Island(node.name, node.op.value, reasons.get(node.name, BETWEEN))
        for node in graph.nodes
        if node.name in reasons or node.name in between
    ]
