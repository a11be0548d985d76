"""The compression stage of ``edgec build``: after the target's cleanup, before the backend's passes.

``--prune``, ``--prune-channels``, ``--low-rank``, ``--cluster`` (in that
order: structure first, then values) become pass specs; each pass is
measured (weight bytes, MACs, density, and the metric against the input
model under ONNX Runtime on the build's samples) before and after, and a
pass that costs more than the accuracy budget stops the build. With
``--huffman`` the bundle gains weights.huf (Huffman-coded weights) and
decode_weights.py; report.json gets the Deep Compression bytes per stage,
manifest.json the codebook size per clustered layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edgec import __version__
from edgec.accuracy import SampleSet
from edgec.compression.accounting import codebook_sizes, measure
from edgec.compression.calibration import Outputs
from edgec.compression.huffman import encode_weights, storage_report
from edgec.compression.options import CompressionRequest
from edgec.errors import AccuracyError, UsageError
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.passes.manager import PassRecord, PassSpec, make_spec, run_passes
from edgec.runtime import Feeds, reference_session, run, session
from edgec.templating import render

WEIGHTS_FILE = "weights.huf"
DECODER_FILE = "decode_weights.py"


@dataclass
class CompressionResult:
    records: list[PassRecord] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    weights: bytes | None = None
    # The compressed IR under ONNX Runtime: the build's accuracy check compares the artifact with it
    # (the loss compression accepts on purpose is in the report, measured against the input model).
    session: ort.InferenceSession | None = None

    def write_files(self, bundle: Path) -> None:
        if self.weights is not None:
            (bundle / WEIGHTS_FILE).write_bytes(self.weights)
            text = render("compression/decode_weights.py.j2", weights_file=WEIGHTS_FILE, version=__version__)
            (bundle / DECODER_FILE).write_text(text, encoding="utf-8")


def _prune_options(spec: str, data: dict[str, Any], budget: float | None) -> dict[str, Any]:
    sparsity, _, mode = spec.partition(":")
    try:
        value = float(sparsity)
    except ValueError:
        raise UsageError(
            f"--prune expects SPARSITY[:MODE], e.g. 0.5 or 0.9:sensitivity, got '{spec}'"
        ) from None
    options = {"sparsity": value, "mode": mode or "layer", **data}
    if budget is not None:
        options["budget"] = budget
    return options


def compression_specs(request: CompressionRequest, data: dict[str, Any]) -> list[PassSpec]:
    """The pass specs, in order; ``data`` holds the calibration options (calibration, samples, seed)."""
    specs = []
    if request.prune_channels is not None:
        specs.append(
            make_spec("prune-channels", {"ratio": request.prune_channels, "reconstruct": True, **data})
        )
    if request.prune is not None:
        options = _prune_options(request.prune, data, request.max_accuracy_drop)
        specs.append(make_spec("prune", {**options, "reconstruct": True}))
    if request.low_rank is not None:
        specs.append(make_spec("low-rank", {"ratio": request.low_rank}))
    if request.cluster is not None:
        specs.append(make_spec("cluster", {"clusters": request.cluster}))
    return specs


def _check_budget(entries: list[dict[str, Any]], budget: float | None, model: Path) -> None:
    if budget is None or not entries:
        return
    baseline = entries[0]["before"]["metric"]
    for entry in entries:
        if baseline - entry["after"]["metric"] > budget:
            raise AccuracyError(
                f"{model.name}: compression pass '{entry['name']}' drops the accuracy metric from {baseline} "
                f"to {entry['after']['metric']}, more than --max-accuracy-drop {budget}; no bundle was "
                f"written. Compress less (a smaller --prune/--prune-channels/--low-rank, more --cluster "
                f"centroids) or give representative --sample-data."
            )


def run_measured(
    graph: Graph, pipeline: Sequence[PassSpec], feeds: Sequence[Feeds], reference: Outputs
) -> tuple[list[PassRecord], list[dict[str, Any]]]:
    """Run ``pipeline`` pass by pass, measuring size, MACs and metric before and after each."""
    records: list[PassRecord] = []
    entries: list[dict[str, Any]] = []
    before = measure(graph, feeds, reference)
    for spec in pipeline:
        records += run_passes(graph, [spec])
        after = measure(graph, feeds, reference)
        entries.append({"name": spec.name, "before": before, "after": after})
        before = after
    return records, entries


def compress(
    graph: Graph, request: CompressionRequest, samples: SampleSet, model: Path, sample_data: Path | None
) -> CompressionResult:
    """Run the requested passes on ``graph`` (after cleanup), measured against the input model."""
    if not request.active:
        return CompressionResult()
    data = {"calibration": str(sample_data) if sample_data else "", "samples": len(samples.samples)}
    specs = compression_specs(request, data)
    input_model = reference_session(model)
    reference = [run(input_model, feed) for feed in samples.samples]
    records, entries = run_measured(graph, specs, samples.samples, reference)
    _check_budget(entries, request.max_accuracy_drop, model)
    result = CompressionResult(records, session=session(to_onnx(graph), threads=1))
    result.report["compression"] = {
        "metric": "top-1 agreement with the input model (cosine for non-classifier outputs)",
        "samples": samples.source,
        "passes": entries,
        "accuracy_check_reference": "the compressed graph under ONNX Runtime",
        "storage": storage_report(graph),
    }
    result.manifest["compression"] = {"codebooks": codebook_sizes(graph)}
    if request.huffman:
        result.weights = encode_weights(graph)
        result.manifest["compression"]["weights_file"] = WEIGHTS_FILE
    return result
