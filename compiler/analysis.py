"""Model analysis behind `edgec inspect`: what a graph holds and what it costs.

- op histogram;
- parameters and weight bytes: the constant inputs of nodes, each counted
  once, except inputs that configure an op rather than hold learned values
  (shapes, axes, pads, Clip bounds, Resize scales, ...: ``CONFIG_INPUTS``);
- MACs (multiply-accumulates) per node for Conv (grouped and depthwise
  included), ConvTranspose, Gemm, MatMul, LSTM, GRU and RNN. Every other op counts 0
  MACs: activations, pooling, normalization and elementwise ops cost memory
  traffic, which the cost model accounts for;
- peak activation memory: walking the nodes in their (topological) order,
  the bytes of the non-constant values alive at each step (graph inputs
  included; a value lives from the step that produces it to its last use,
  graph outputs to the end), in the graph's own dtypes;
- with a target: the nodes its backend cannot run, and a roofline latency
  estimate (edgec.costmodel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from edgec.backend_protocol import Unsupported
from edgec.costmodel import estimate_latency
from edgec.errors import ShapeError
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.targets import Target

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


def _shape(value: Value | None) -> tuple[int, ...]:
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
    return _prod(_shape(node.output)) * _prod(_shape(node.input(1))[1:])


def _conv_transpose_macs(node: Node) -> int:
    # Weight [C, M/group, k...]: each input element feeds M/group * prod(k) MACs.
    return _prod(_shape(node.input(0))) * _prod(_shape(node.input(1))[1:])


def _gemm_macs(node: Node) -> int:
    a = _shape(node.input(0))
    inner = a[0] if node.attrs.get("transA", 0) else a[1]
    return _prod(_shape(node.output)) * inner


def _matmul_macs(node: Node) -> int:
    return _prod(_shape(node.output)) * _shape(node.input(0))[-1]


def _lstm_macs(node: Node) -> int:
    # LSTM, GRU, RNN: X [seq, batch, in] (layout 0) or [batch, seq, in]; W [dirs, gates * H, in];
    # R [dirs, gates * H, H] (4 gates, 3 or 1).
    seq_len, batch = _shape(node.input(0))[:2]
    dirs, gates, inputs = _shape(node.input(1))
    hidden = _shape(node.input(2))[2]
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


def _tensor(value: Value) -> dict[str, Any]:
    return {
        "name": value.name,
        "dtype": value.dtype.name,
        "shape": list(_shape(value)),
        "layout": value.layout.value or None,
    }


def _target_section(
    graph: Graph,
    target: Target,
    precision: str | None,
    unsupported: Sequence[Unsupported] | None,
    macs: Mapping[str, int],
) -> dict[str, Any]:
    chosen = target.resolve_precision(precision)
    return {
        "name": target.name,
        "family": target.family,
        "backend": target.backend,
        "precision": chosen,
        "unsupported": None
        if unsupported is None
        else [{"node": u.node, "op": u.op, "reason": u.reason} for u in unsupported],
        "latency": estimate_latency(graph, target, chosen, macs),
    }


def inspect_model(
    graph: Graph,
    target: Target | None = None,
    unsupported: Sequence[Unsupported] | None = (),
    precision: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready inspection report; ``precision`` (target's default when None) drives the cost model."""
    macs = {node.name: node_macs(node) for node in graph.nodes}
    weights = weight_values(graph)
    return {
        "model": graph.name,
        "inputs": [_tensor(v) for v in graph.inputs],
        "outputs": [_tensor(v) for v in graph.outputs],
        "nodes": len(graph.nodes),
        "op_histogram": op_histogram(graph),
        "parameters": sum(v.size for v in weights),
        "weight_bytes": sum(v.nbytes for v in weights),
        "macs": {
            "total": sum(macs.values()),
            "layers": [
                {
                    "node": n.name,
                    "op": n.op.value,
                    "output_shape": list(_shape(n.output)),
                    "macs": macs[n.name],
                }
                for n in graph.nodes
                if macs[n.name]
            ],
        },
        "peak_memory": peak_memory(graph),
        "target": None if target is None else _target_section(graph, target, precision, unsupported, macs),
    }


# -- text report ---------------------------------------------------------------------------


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} GiB"


def _count(n: float) -> str:
    for unit in ("", "K", "M"):
        if n < 1000:
            return f"{n:.0f}" if not unit else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} G"


def _columns(rows: Sequence[Sequence[str]], indent: str = "  ", right_from: int = 2) -> list[str]:
    """Aligned columns; columns from ``right_from`` on are right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(
            cell.ljust(w) if i < right_from else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def _tensor_lines(title: str, tensors: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [
        [t["name"], t["dtype"], "x".join(str(d) for d in t["shape"]) or "scalar", t["layout"] or ""]
        for t in tensors
    ]
    return [f"{title}:", *(line.rstrip() for line in _columns(rows))] if rows else [f"{title}: none"]


def _mac_lines(report: Mapping[str, Any], top: int) -> list[str]:
    macs = report["macs"]
    total = macs["total"]
    layers = len(macs["layers"])
    lines = [f"MACs: {_count(total)} ({total:,}) in {layers} layer{'' if layers == 1 else 's'}"]
    ranked = sorted(macs["layers"], key=lambda layer: -layer["macs"])[:top]
    if ranked:
        rows = [["node", "op", "output", "MACs", "share"]]
        rows += [
            [
                layer["node"],
                layer["op"],
                "x".join(str(d) for d in layer["output_shape"]),
                f"{layer['macs']:,}",
                f"{100 * layer['macs'] / total:.1f}%",
            ]
            for layer in ranked
        ]
        lines.append(f"  top {len(ranked)} by MACs:")
        lines += _columns(rows, "    ")
    return lines


def _target_lines(section: Mapping[str, Any], top: int) -> list[str]:
    latency = section["latency"]
    title = f"{section['name']} ({section['family']}, backend {section['backend']}, {section['precision']})"
    lines = [f"target {title}:"]
    if section["unsupported"] is None:
        lines.append(f"  unsupported nodes: not checked (backend '{section['backend']}' is not installed)")
    elif section["unsupported"]:
        lines.append(f"  unsupported nodes ({len(section['unsupported'])}):")
        lines += [f"    {u['op']} node '{u['node']}': {u['reason']}" for u in section["unsupported"]]
    else:
        lines.append("  unsupported nodes: none")
    bounds = (
        f"{latency['compute_bound_nodes']} nodes compute-bound, {latency['memory_bound_nodes']} memory-bound"
    )
    lines.append(f"  estimated latency: {latency['total_ms']:.3f} ms ({bounds})")
    ranked = sorted(latency["layers"], key=lambda layer: -layer["ms"])[:top]
    rows = [["node", "op", "ms", "bound"]]
    rows += [[layer["node"], layer["op"], f"{layer['ms']:.4f}", layer["bound"]] for layer in ranked]
    lines.append(f"  top {len(ranked)} by estimated time:")
    lines += _columns(rows, "    ")
    lines.append("  assumptions:")
    lines += [f"    - {text}" for text in latency["assumptions"]]
    return lines


def format_inspect(report: Mapping[str, Any], top: int = 10) -> str:
    """The report of ``inspect_model`` as text for people; ``top`` rows in the per-layer tables."""
    lines = [f"model '{report['model']}': {report['nodes']} nodes"]
    lines += _tensor_lines("inputs", report["inputs"])
    lines += _tensor_lines("outputs", report["outputs"])
    lines.append("ops:")
    lines += _columns([[op, str(count)] for op, count in report["op_histogram"].items()], right_from=1)
    lines.append(f"parameters: {report['parameters']:,} ({_size(report['weight_bytes'])} of weights)")
    lines += _mac_lines(report, top)
    peak = report["peak_memory"]
    where = f" while node '{peak['node']}' runs (step {peak['step']})" if peak["node"] is not None else ""
    lines.append(f"peak activation memory: {_size(peak['bytes'])} ({peak['bytes']:,} bytes){where}")
    if report["target"] is not None:
        lines += _target_lines(report["target"], top)
    return "\n".join(line.rstrip() for line in lines) + "\n"
