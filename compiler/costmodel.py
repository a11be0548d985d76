"""A roofline latency estimate from a target's peak throughput and memory bandwidth.

Each node runs alone, either at the target's peak rate for the precision
(``2 * MACs / peak_gops``) or at its memory bandwidth (bytes moved /
bandwidth), whichever takes longer; the model's latency is the sum over
nodes. It is a rough lower bound for comparing models and targets, not a
measurement: real runtimes rarely reach peak, fuse some nodes away and add
launch overheads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.targets import Target

# Bytes per float element at each precision: (activations, weights). Integer tensors
# (indices, shapes, already quantized data) keep their own element size.
ELEMENT_BYTES: Mapping[str, tuple[float, float]] = {
    "fp32": (4, 4),
    "fp16": (2, 2),
    "int8": (1, 1),
    "int8-dynamic": (4, 1),
    "int16x8": (2, 1),
    "ternary": (4, 0.25),
}

# Ops that only reinterpret a buffer's shape; runtimes do not copy data for them.
VIEW_OPS = frozenset({Op.RESHAPE, Op.FLATTEN, Op.SQUEEZE, Op.UNSQUEEZE, Op.IDENTITY, Op.SHAPE})


def _value_bytes(value: Value, precision: str) -> float:
    if value.dtype.kind != "f":
        return float(value.nbytes)
    activation, weight = ELEMENT_BYTES[precision]
    return value.size * (weight if value.is_constant else activation)


def node_bytes(node: Node, precision: str) -> float:
    """Bytes a node reads and writes: each distinct input (weights included) and output once."""
    if node.op in VIEW_OPS:
        return 0.0
    values = {id(v): v for v in [*node.inputs, *node.outputs] if v is not None}
    return sum(_value_bytes(v, precision) for v in values.values())


def _bound(node: Node, compute_s: float, memory_s: float) -> str:
    if node.op in VIEW_OPS:
        return "free"
    return "compute" if compute_s > memory_s else "memory"


def _assumptions(target: Target, precision: str) -> list[str]:
    activation, weight = ELEMENT_BYTES[precision]
    return [
        f"roofline per node: max(2 x MACs / {target.peak_gops[precision]:g} GOPS peak at {precision}, "
        f"bytes moved / {target.memory_bandwidth_gbs:g} GB/s); the model's latency is the sum over nodes",
        f"bytes moved: every input, weight and output once; float activations at {activation:g} bytes, "
        f"float weights at {weight:g} bytes per element",
        "no overlap between nodes, no fusion, no launch or transfer overhead; reshape-like ops are free; "
        "non-MAC ops (activations, pooling, elementwise) cost only their memory traffic",
        "peak and bandwidth are spec-sheet values or estimates (see the target's entry in targets.toml); "
        "treat the result as a rough lower bound",
    ]


def estimate_latency(graph: Graph, target: Target, precision: str, macs: Mapping[str, int]) -> dict[str, Any]:
    """Per-node and total latency in milliseconds; ``macs`` maps node names to their MACs."""
    ops_per_s = target.peak_gops[precision] * 1e9
    bytes_per_s = target.memory_bandwidth_gbs * 1e9
    layers = []
    total_s = 0.0
    for node in graph.nodes:
        node_macs = macs.get(node.name, 0)
        moved = node_bytes(node, precision)
        compute_s = 2 * node_macs / ops_per_s
        memory_s = moved / bytes_per_s
        total_s += max(compute_s, memory_s)
        layers.append(
            {
                "node": node.name,
                "op": node.op.value,
                "macs": node_macs,
                "bytes": int(moved),
                "ms": round(max(compute_s, memory_s) * 1e3, 6),
                "bound": _bound(node, compute_s, memory_s),
            }
        )
    return {
        "precision": precision,
        "peak_gops": target.peak_gops[precision],
        "memory_bandwidth_gbs": target.memory_bandwidth_gbs,
        "total_ms": round(total_s * 1e3, 6),
        "compute_bound_nodes": sum(1 for layer in layers if layer["bound"] == "compute"),
        "memory_bound_nodes": sum(1 for layer in layers if layer["bound"] == "memory"),
        "assumptions": _assumptions(target, precision),
        "layers": layers,
    }
