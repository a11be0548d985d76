"""Model analysis behind `edgec inspect`: what a graph holds and what it costs.

The op histogram, parameters and weight bytes, MACs per node and peak
activation memory (counted by ``edgec.ir.statistics``); with a target: the
nodes its backend cannot run, and a roofline latency estimate
(edgec.costmodel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgec.backend_protocol import Unsupported
from edgec.costmodel import estimate_latency
from edgec.ir.graph import Graph, Value
from edgec.ir.statistics import node_macs, op_histogram, peak_memory, static_shape, weight_values
from edgec.targets import Target


def _tensor(value: Value) -> dict[str, Any]:
    return {
        "name": value.name,
        "dtype": value.dtype.name,
        "shape": list(static_shape(value)),
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
                    "output_shape": list(static_shape(n.output)),
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
