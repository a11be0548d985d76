"""One-page HTML reports: report.html per bundle, report.html per matrix.

A bundle's figures are PNG images drawn with matplotlib's Agg backend (no
display, no timestamps in the files, so bundles stay byte-identical); a
matrix's bar charts are SVG from a template (a run of cache hits should not
wait for matplotlib). Both are embedded as data: URIs. The pages come from
Jinja2 templates (templates/report/) with autoescaping on, since
model-supplied names appear in them.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgec.templating import render

TOP_LAYERS = 20


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use (it takes a while)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _barh(labels: Sequence[str], values: Sequence[float], xlabel: str, title: str) -> str:
    figure, axes = _pyplot().subplots(figsize=(7, 0.3 * len(labels) + 1.2))
    axes.barh(range(len(labels)), values, color="#3b75af")
    axes.set_yticks(range(len(labels)), [label[:48] for label in labels], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    return _png(figure)


def size_figure(files: Mapping[str, int]) -> str:
    ordered = sorted(files.items(), key=lambda item: -item[1])
    return _barh([n for n, _ in ordered], [s / 1024 for _, s in ordered], "KiB", "Bundle files by size")


def sensitivity_figure(sensitivity: Sequence[Mapping[str, Any]]) -> str | None:
    rows = [row for row in sensitivity if row.get("snr_db") is not None][:TOP_LAYERS]
    if not rows:
        return None
    return _barh(
        [f"{row['layer']} ({row['op']})" for row in rows],
        [row["snr_db"] for row in rows],
        "SNR of the model's output with only this layer in int8 (dB; lower = more sensitive)",
        "Per-layer quantization sensitivity",
    )


def weight_error_figure(rows: Sequence[Mapping[str, Any]]) -> str | None:
    kept = [row for row in rows if row.get("weight_snr_db") is not None][: TOP_LAYERS * 2]
    if not kept:
        return None
    return _barh(
        [f"{row['layer']} ({row['op']}, {row['rounding']})" for row in kept],
        [row["weight_snr_db"] for row in kept],
        "SNR of the int8 weights against the float weights (dB)",
        "Per-layer int8 weight error",
    )


def output_error_figure(outputs: Mapping[str, Mapping[str, Any]]) -> str | None:
    rows = [(name, m["snr_db"]) for name, m in outputs.items() if m.get("snr_db") is not None]
    if not rows:
        return None
    return _barh(
        [n for n, _ in rows], [v for _, v in rows], "SNR (dB)", "int8 simulation vs float, per output"
    )


def roofline_figure(cost: Mapping[str, Any]) -> str | None:
    layers = [layer for layer in cost["layers"] if layer["macs"] and layer["bytes"] and layer["ms"]]
    if not layers:
        return None
    peak, bandwidth = cost["peak_gops"], cost["memory_bandwidth_gbs"]
    intensity = [2 * layer["macs"] / layer["bytes"] for layer in layers]
    attained = [2 * layer["macs"] / (layer["ms"] * 1e-3) / 1e9 for layer in layers]
    low, high = min(intensity) / 2, max(intensity) * 2
    ridge = peak / bandwidth
    xs = sorted({low, high, min(max(ridge, low), high)})
    figure, axes = _pyplot().subplots(figsize=(7, 4))
    axes.plot(xs, [min(peak, bandwidth * x) for x in xs], color="#444", label="roofline")
    axes.scatter(intensity, attained, s=14, color="#d9622b", label="layers (cost model)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arithmetic intensity (operations / byte)")
    axes.set_ylabel("GOPS")
    axes.set_title(f"Roofline at {cost['precision']}: {peak:g} GOPS, {bandwidth:g} GB/s", fontsize=10)
    axes.legend(fontsize=8)
    return _png(figure)


def latency_figure(cost: Mapping[str, Any]) -> str | None:
    layers = sorted(cost["layers"], key=lambda layer: -layer["ms"])[:TOP_LAYERS]
    layers = [layer for layer in layers if layer["ms"] > 0]
    if not layers:
        return None
    return _barh(
        [f"{layer['node']} ({layer['op']}, {layer['bound']})" for layer in layers],
        [layer["ms"] for layer in layers],
        "ms (cost model)",
        f"Slowest layers; model total {cost['total_ms']:g} ms",
    )


def bundle_report(bundle: Path, manifest: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    """The HTML of a bundle's report.html, from its manifest and report.json."""
    files = {name: (bundle / name).stat().st_size for name in sorted(manifest["files"])}
    quantization = report.get("quantization") or {}
    cost = report.get("cost_model")
    figures = {
        "sizes": size_figure(files),
        "outputs": output_error_figure((quantization.get("metrics") or {}).get("outputs", {})),
        "sensitivity": sensitivity_figure(quantization.get("sensitivity") or []),
        "weights": weight_error_figure(report.get("weight_quantization") or []),
        "roofline": roofline_figure(cost) if cost else None,
        "latency": latency_figure(cost) if cost else None,
    }
    return render(
        "report/bundle.html.j2",
        manifest=manifest,
        report=report,
        files=files,
        quantization=quantization,
        cost=cost,
        figures=figures,
    )


def write_bundle_report(bundle: Path, manifest: Mapping[str, Any], report: Mapping[str, Any]) -> Path:
    path = bundle / "report.html"
    path.write_text(bundle_report(bundle, manifest, report), encoding="utf-8")
    return path


def svg_bars(labels: Sequence[str], values: Sequence[float], unit: str, title: str) -> str:
    """A horizontal bar chart as an SVG image (data: URI) from a template: instant, unlike a PNG."""
    bars = list(zip(labels, values, strict=True))
    svg = render("report/bars.svg.j2", bars=bars, peak=max(values, default=0), unit=unit, title=title)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _label(cell: Mapping[str, Any]) -> str:
    return f"{cell['model']} / {cell['target']} / {cell['precision'] or 'default'}"


def matrix_report(cells: Sequence[Mapping[str, Any]], root: Path) -> str:
    """The HTML of a matrix's report.html; ``cells`` are the JSON summary's cells."""
    built = [c for c in cells if c.get("artifact_bytes")]
    figures = {
        "sizes": svg_bars(
            [_label(c) for c in built], [c["artifact_bytes"] / 1024 for c in built], "KiB", "Artifact size"
        )
        if built
        else None,
        "seconds": svg_bars(
            [_label(c) for c in cells],
            [c["seconds"] for c in cells],
            "s (a cache hit: its restore)",
            "Build time",
        )
        if cells
        else None,
    }
    links = {}
    for cell in cells:
        page = Path(cell["bundle"]) / "report.html" if cell.get("bundle") else None
        if page is not None and page.is_file():
            links[cell["bundle"]] = Path(os.path.relpath(page.resolve(), root.resolve())).as_posix()
    return render("report/matrix.html.j2", cells=cells, figures=figures, links=links)


def write_matrix_report(cells: Sequence[Mapping[str, Any]], root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "report.html"
    path.write_text(matrix_report(cells, root), encoding="utf-8")
    return path
