"""The compression stage of ``edgec build``: after the target's cleanup, before the backend's passes.

``--prune``, ``--prune-channels``, ``--low-rank``, ``--cluster`` (in that
order: structure first, then values; then ``ternary`` for ``--precision
ternary``) become pass specs; each pass is measured (weight bytes, MACs,
density, and the quantization engine's metrics against the input model
under ONNX Runtime) before and after, on samples no pass calibrated or
refitted on: ``--validation-data`` (with its labels) if given, else every
``RESERVE_EVERY``-th sample of the calibration data (or of the build's
samples), which the passes never read. The same figures on the samples the
passes did use stand beside them (``calibration``), so overfitting shows.
A pass after which the model misses a ``--max-accuracy-drop`` budget on the
held-out samples stops the build (AccuracyError, exit code 7); ``prune`` in
sensitivity mode chooses its sparsities under the same budgets, on its own
held-out share of the calibration samples. report.json says what the zeros buy on the target
(edgec.compression.sparsity). With
``--huffman`` the bundle gains weights.huf (Huffman-coded weights) and
decode_weights.py; report.json gets the Deep Compression bytes per stage,
manifest.json the codebook size per clustered layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from edgec import __version__
from edgec.budget import Budget, check_measurable, unmet
from edgec.compression.accounting import agreement, codebook_sizes, layer_density, total_macs, weight_bytes
from edgec.compression.budget_checks import budgets_text, metrics, without_labels
from edgec.compression.huffman import encode_weights, storage_report
from edgec.compression.options import CompressionRequest
from edgec.compression.pass_inputs import Outputs, run_all
from edgec.compression.sparsity import sparsity_gain
from edgec.compression.ternary import ternary_report
from edgec.data.datasets import Dataset, load_dataset
from edgec.data.samples import reserved, unreserved
from edgec.data.split import Split
from edgec.errors import AccuracyError, UsageError
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.metrics import Metrics
from edgec.passes.instruments import PassContext, PassInstrument, PassRun
from edgec.passes.manager import PassRecord, PassSpec, make_spec, run_passes
from edgec.runtime import Feeds, reference_session, run, session
from edgec.targets import Target
from edgec.templating import render

if TYPE_CHECKING:
    from edgec.pipeline import BuildOptions

# Calibration samples the passes take from an .npz --calibration-data without --calibration-samples.
PASS_CALIBRATION_SAMPLES = 256
# Without --validation-data every RESERVE_EVERY-th calibration sample judges and is never read by a pass.
RESERVE_EVERY = 4
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


def _cluster_options(spec: int | str, data: dict[str, Any]) -> dict[str, Any]:
    count, _, codebook = str(spec).partition(":")
    try:
        clusters = int(count)
    except ValueError:
        raise UsageError(
            f"--cluster expects K[:layer|channel], e.g. 16 or 16:channel, got '{spec}'"
        ) from None
    return {"clusters": clusters, "codebook": codebook or "layer", "reconstruct": True, **data}


def _channel_options(spec: float | str, data: dict[str, Any]) -> dict[str, Any]:
    ratio, _, criterion = str(spec).partition(":")
    try:
        value = float(ratio)
    except ValueError:
        value = None
    if value is None or criterion not in ("", "obs"):
        raise UsageError(f"--prune-channels expects RATIO[:obs], e.g. 0.2 or 0.2:obs, got '{spec}'")
    return {"ratio": value, "criterion": criterion or "l1", "reconstruct": True, **data}


def _prune_options(spec: str, data: dict[str, Any], budgets: Sequence[Budget]) -> dict[str, Any]:
    sparsity, _, mode = spec.partition(":")
    try:
        value = float(sparsity)
    except ValueError:
        raise UsageError(
            f"--prune expects SPARSITY[:MODE], e.g. 0.5, 0.9:sensitivity or 0.5:2of4, got '{spec}'"
        ) from None
    options = {"sparsity": value, "mode": mode or "layer", **data}
    if budgets:
        options["budget"] = budgets_text(without_labels(budgets))
    return options


def compression_specs(
    request: CompressionRequest, data: dict[str, Any], budgets: Sequence[Budget] = (), ternary: bool = False
) -> list[PassSpec]:
    """The pass specs, in order; ``data`` holds the calibration options (calibration, samples, seed)."""
    specs = []
    if request.prune_channels is not None:
        specs.append(make_spec("prune-channels", _channel_options(request.prune_channels, data)))
    if request.prune is not None:
        options = _prune_options(request.prune, data, budgets)
        specs.append(make_spec("prune", {**options, "reconstruct": True}))
    if request.low_rank is not None:
        specs.append(make_spec("low-rank", {"ratio": request.low_rank}))
    if request.cluster is not None:
        specs.append(make_spec("cluster", _cluster_options(request.cluster, data)))
    if ternary:
        specs.append(make_spec("ternary"))
    return specs


@dataclass(frozen=True)
class Evaluation:
    """The held-out data every pass is judged on, and the calibration data beside it; the input
    model's outputs on both."""

    feeds: list[Feeds]
    reference: Outputs
    labels: np.ndarray | None
    source: str
    calibration_feeds: list[Feeds]
    calibration_reference: Outputs

    def measure(self, graph: Graph) -> tuple[dict[str, Any], Metrics]:
        names = [value.name for value in graph.outputs]
        outputs = [{name: item[name] for name in names} for item in run_all(graph, self.feeds)]
        measured = metrics(self.reference, outputs, self.labels)
        fitted = [{name: item[name] for name in names} for item in run_all(graph, self.calibration_feeds)]
        entry = {
            "weight_bytes": weight_bytes(graph),
            "macs": total_macs(graph),
            "density": round(layer_density(graph), 6),
            "sparsity": round(1.0 - layer_density(graph), 6),
            "metric": round(agreement(self.reference, outputs), 6),
            "metrics": measured.as_dict(),
            "calibration_metric": round(agreement(self.calibration_reference, fitted), 6),
            "calibration_metrics": metrics(self.calibration_reference, fitted).as_dict(),
        }
        return entry, measured


def pass_data(options: BuildOptions, samples: Dataset, split: Split | None = None) -> dict[str, Any]:
    """The passes' calibration options: --sample-data, else an .npz --calibration-data (without the
    samples ``split`` holds out), else random inputs. Without --validation-data or ``split`` every
    ``RESERVE_EVERY``-th sample is reserved for judging."""
    held_out = options.quantization.validation_data is not None or split is not None
    reserve = 0 if held_out else RESERVE_EVERY
    calibration = options.quantization.calibration_data
    if options.sample_data is None and calibration is not None and calibration.suffix == ".npz":
        count = options.quantization.samples or PASS_CALIBRATION_SAMPLES
        if split is not None:
            count = min(count, len(split.calibration))
        return {"calibration": str(calibration), "samples": count, "seed": options.seed, "reserve": reserve}
    return {
        "calibration": str(options.sample_data or ""),
        "samples": len(samples),
        "seed": options.seed,
        "reserve": reserve,
    }


def _calibration_source(
    options: BuildOptions, samples: Dataset, graph: Graph, split: Split | None
) -> tuple[list[Feeds], str]:
    """The samples the passes read (before reserving), as ``pass_data`` chooses them."""
    data = pass_data(options, samples, split)
    if data["calibration"] and data["calibration"] != str(options.sample_data or ""):
        loaded = load_dataset(Path(data["calibration"]), graph.inputs, purpose="calibration")
        return list(loaded.samples())[: data["samples"]], Path(data["calibration"]).name
    return list(samples.samples()), samples.source


def evaluation(
    graph: Graph, options: BuildOptions, samples: Dataset, split: Split | None = None
) -> Evaluation:
    """--validation-data (with labels), else the share of the calibration data ``split`` holds out,
    else the reserved share of the passes' calibration samples."""
    quantization = options.quantization
    calibration, calibration_name = _calibration_source(options, samples, graph, split)
    if quantization.validation_data is not None:
        path = quantization.validation_data
        data = load_dataset(path, graph.inputs, quantization.preprocess_spec(), purpose="validation")
        feeds, labels, source = list(data.samples()), data.labels, Path(data.source).name
    elif split is not None:
        data = split.held_out
        feeds, labels, source = list(data.samples()), data.labels, f"{Path(data.source).name} (held out)"
    else:
        feeds, labels = reserved(calibration, RESERVE_EVERY), None
        calibration = unreserved(calibration, RESERVE_EVERY)
        source = f"{calibration_name}: every {RESERVE_EVERY}th sample, held out from the passes"
        if not feeds:
            feeds, source = calibration, f"{calibration_name} (too few samples to hold any out)"
    input_model = reference_session(options.model)
    return Evaluation(
        feeds,
        [run(input_model, feed) for feed in feeds],
        labels,
        source,
        calibration,
        [run(input_model, feed) for feed in calibration],
    )


class MeasuredPasses(PassInstrument):
    """Measures each compression pass's result against the input model on ``data`` (size, MACs,
    metrics), records the budgets in its entry and stops the build (AccuracyError) at the first
    pass after which the model misses one."""

    def __init__(self, graph: Graph, data: Evaluation, budgets: Sequence[Budget], model: Path) -> None:
        self.data, self.budgets, self.model = data, budgets, model
        self.before, _ = data.measure(graph)
        self.entries: list[dict[str, Any]] = []
        self.measured: list[Metrics] = []

    def after_pass(self, graph: Graph, run: PassRun, rewrites: int, seconds: float) -> None:
        if run.depth:
            return
        after, measured = self.data.measure(graph)
        entry = {"name": run.name, "before": self.before, "after": after}
        entry["budgets"] = [
            {"budget": b.text(), "result": b.describe(measured), "met": b.met(measured)} for b in self.budgets
        ]
        self.entries.append(entry)
        self.measured.append(measured)
        self.before = after
        missed = "; ".join(b.describe(measured) for b in unmet(self.budgets, measured))
        if missed:
            raise AccuracyError(
                f"{self.model.name}: after compression pass '{run.name}' the model misses "
                f"--max-accuracy-drop against the input model: {missed}; "
                f"no bundle was written. Compress less (a smaller --prune/--prune-channels/--low-rank, "
                f"--prune S:sensitivity, more --cluster centroids), give representative --sample-data, "
                f"or allow a larger drop."
            )


def run_measured(
    graph: Graph, pipeline: Sequence[PassSpec], data: Evaluation, budgets: Sequence[Budget], model: Path
) -> tuple[list[PassRecord], MeasuredPasses]:
    """Run ``pipeline`` through the manager, each pass measured and held to ``budgets``."""
    measured = MeasuredPasses(graph, data, budgets, model)
    with PassContext.current().with_instruments(measured):
        records = run_passes(graph, pipeline)
    return records, measured


def compress(
    graph: Graph,
    options: BuildOptions,
    samples: Dataset,
    target: Target,
    precision: str,
    split: Split | None = None,
) -> CompressionResult:
    """Run the requested passes on ``graph`` (after cleanup), measured against the input model;
    ``split``: the calibration data's held-out share (never refits, measures)."""
    request, ternary = options.compression, precision == "ternary"
    if not request.active and not ternary:
        return CompressionResult()
    budgets = options.quantization.budgets
    specs = compression_specs(request, pass_data(options, samples, split), budgets, ternary)
    evaluation_data = evaluation(graph, options, samples, split)
    if budgets:
        check_measurable(budgets, evaluation_data.measure(graph)[1], evaluation_data.source)
    records, measured = run_measured(graph, specs, evaluation_data, budgets, options.model)
    result = CompressionResult(records, session=session(to_onnx(graph), threads=1))
    result.report["compression"] = {
        "metric": "top-1 agreement with the input model (cosine for non-classifier outputs); "
        "'metrics': the quantization engine's, against the input model, on held-out samples "
        "('samples'); 'calibration_metric(s)': the same on the samples the passes calibrated on",
        "samples": evaluation_data.source,
        "calibration_samples": len(evaluation_data.calibration_feeds),
        "validation_samples": len(evaluation_data.feeds),
        "budgets": [b.text() for b in budgets],
        "passes": measured.entries,
        "accuracy_check_reference": "the compressed graph under ONNX Runtime",
        "storage": storage_report(graph),
        "sparsity": sparsity_gain(graph, target, request.huffman),
        **({"ternary": ternary_report(graph)} if ternary else {}),
    }
    result.manifest["compression"] = {"codebooks": codebook_sizes(graph)}
    if request.huffman:
        result.weights = encode_weights(graph)
        result.manifest["compression"]["weights_file"] = WEIGHTS_FILE
    return result
