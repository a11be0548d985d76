"""``edgec build``: frontend, passes, backend, accuracy check, bundle.

Everything that can be refused is refused before any work: the target and
its backend, the precision, an existing output directory, the model's ops
and shapes. The bundle is then written in a temporary directory and renamed
into place, so it appears whole or not at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgec import __version__, backend_registry, runtime, signing
from edgec.accuracy import Threshold, check_threshold_outputs, compare
from edgec.backend_protocol import Artifact, Backend, BackendOptions, BuildRequest, Runner, Unsupported
from edgec.bundle import (
    MANIFEST,
    PASS_TIMING,
    REPORT,
    check_output,
    file_hashes,
    safe_name,
    sha256_file,
    staging,
    write_json,
)
from edgec.compression.options import CompressionRequest
from edgec.compression.stage import CompressionResult, compress
from edgec.costmodel import estimate_latency
from edgec.data.datasets import Dataset, check_arrays
from edgec.data.samples import dataset_samples, load_samples, random_samples
from edgec.errors import AccuracyError, TargetError, UnsupportedOpError, UsageError
from edgec.frontend import load_model
from edgec.html_report import write_bundle_report
from edgec.ir.graph import Graph, Value
from edgec.ir.statistics import node_macs
from edgec.layer_error import weight_errors
from edgec.limits import check_sample_count, tensor_bytes
from edgec.passes import DumpIR, PassContext, PassTiming, make_spec, run_passes
from edgec.passes.layout import stored_shape
from edgec.passes.manager import PassRecord, PassSpec
from edgec.quantization.build import (
    QUANTIZED_PRECISIONS,
    Datasets,
    QuantizationOptions,
    load_datasets,
    manifest_entries,
    quantize_for_build,
)
from edgec.quantization.debug import compare_tensors
from edgec.quantization.quantize_graph import QuantizationResult
from edgec.runtime import run
from edgec.streaming import state_pairs
from edgec.targets import Target, load_catalogue
from edgec.templating import render
from edgec.versions import tool_versions


@dataclass(frozen=True)
class BuildOptions:
    model: Path
    target: str
    output: Path | None = None
    precision: str | None = None
    input_shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    targets_files: Sequence[Path] = ()
    force: bool = False
    verify: bool = True
    sample_data: Path | None = None
    samples: int = 8
    seed: int = 0
    dump_ir: Path | None = None
    # Backend name -> its typed options (its argument group's flags); the target's backend gets its own.
    backend_options: Mapping[str, BackendOptions] = field(default_factory=dict)
    # Layout of image-like 4-D model inputs/outputs ("nhwc"/"nchw") for targets that run the layout pass.
    io_layout: str | None = None
    # The runtime to build for, among the target group's (`--runtime`, e.g. SNPE's htp); None: the default.
    runtime: str | None = None
    # --prune, --prune-channels, --low-rank, --cluster, --huffman: run after the target's passes.
    compression: CompressionRequest = field(default_factory=CompressionRequest)
    # --calibration-data, --preprocess, --calibration-method, ..., --max-accuracy-drop (int8 builds).
    quantization: QuantizationOptions = field(default_factory=QuantizationOptions)
    # --accuracy-threshold: overrides of the check's per-precision thresholds (edgec.accuracy).
    accuracy_thresholds: Sequence[Threshold] = ()
    # --sign-key: a PEM Ed25519 private key; manifest.json.sig is written beside the manifest.
    sign_key: Path | None = None


@dataclass(frozen=True)
class BuildResult:
    bundle: Path
    manifest: dict[str, Any]
    report: dict[str, Any]


def default_output(model: Path, target: str) -> Path:
    return Path("dist") / f"{safe_name(model.stem)}-{target}"


def describe(values: Sequence[Value]) -> list[dict[str, Any]]:
    described = []
    for value in values:
        quant = None
        if value.quant is not None:
            quant = {
                "scale": np.asarray(value.quant.scale).tolist(),
                "zero_point": np.asarray(value.quant.zero_point).tolist(),
                "dtype": value.quant.dtype.name,
                "axis": value.quant.axis,
            }
        described.append(
            {
                "name": value.name,
                "shape": list(stored_shape(value)),
                "dtype": value.dtype.name,
                "layout": value.layout.value or None,
                "quantization": quant,
            }
        )
    return described


def _check_supported(backend: Backend, graph: Graph, target: Target, model: Path) -> None:
    unsupported: list[Unsupported] = backend.check(graph, target)
    if unsupported:
        lines = "; ".join(f"{u.op} node '{u.node}': {u.reason}" for u in unsupported)
        raise UnsupportedOpError(
            f"{model.name}: target '{target.name}' cannot run {len(unsupported)} node(s): {lines}. "
            f"Choose another target or change the model."
        )


def _with_io_layout(pipeline: list[PassSpec], io_layout: str | None, target: Target) -> list[PassSpec]:
    """``--io-layout`` sets the layout pass's io_layout; targets without that pass keep the model's layout."""
    if io_layout is None:
        return pipeline
    if not any(spec.name == "layout" for spec in pipeline):
        raise UsageError(
            f"--io-layout applies to targets whose backend changes layouts (TFLite targets); target "
            f"'{target.name}' keeps the input model's layout. Leave --io-layout out."
        )
    return [
        make_spec("layout", {**dataclasses.asdict(spec.options), "io_layout": io_layout})
        if spec.name == "layout"
        else spec
        for spec in pipeline
    ]


def _check_sample_memory(options: BuildOptions, graph: Graph) -> None:
    """Sample counts against memory, before the samples are made (exit 2 naming the option)."""
    per_sample = sum(tensor_bytes(v.shape or (), v.dtype) for v in graph.inputs)
    if options.sample_data is None:
        check_sample_count("--samples", options.samples, per_sample)
    if options.quantization.samples is not None:
        check_sample_count("--calibration-samples", options.quantization.samples, per_sample)


def _check_data(options: BuildOptions) -> None:
    """NaN/Inf and unreadable array data refused before any pass runs."""
    data = (
        ("sample", options.sample_data),
        ("calibration", options.quantization.calibration_data),
        ("validation", options.quantization.validation_data),
    )
    for purpose, path in data:
        if path is not None and path.exists():
            check_arrays(path, purpose)


# Real samples the accuracy check runs on at most (the first ones of the held-out share or of
# --validation-data); random inputs: --samples.
CHECK_LIMIT = 256


def _datasets(options: BuildOptions, graph: Graph, precision: str) -> Datasets | None:
    """Calibration/validation data: int8 builds, and builds given --calibration-data (compression)."""
    if precision in QUANTIZED_PRECISIONS or options.quantization.calibration_data is not None:
        return load_datasets(graph, options.quantization)
    return None


def _samples(options: BuildOptions, graph: Graph, data: Datasets | None) -> Dataset:
    """What the check judges: --sample-data, else the share of --calibration-data held out from
    calibration, else --validation-data, else random inputs; never a sample that calibrated."""
    if options.sample_data is not None:
        return load_samples(options.sample_data, graph.inputs)
    if data is not None and data.split is not None:
        return dataset_samples(
            data.split.held_out, CHECK_LIMIT, "held out from calibration", len(data.split.calibration)
        )
    if options.quantization.validation_data is not None and data is not None and data.validation is not None:
        return dataset_samples(data.validation, CHECK_LIMIT, "--validation-data")
    return random_samples(graph.inputs, options.samples, options.seed)


def _write_reference(out_dir: Path, samples: Dataset, reference: Runner) -> None:
    first = samples.sample(0)
    np.savez(out_dir / "sample_input.npz", **first)
    np.savez(out_dir / "expected_output.npz", **reference(first))


@dataclass(frozen=True)
class _Plan:
    """What the build will do, settled before any work: every refusal happens while making it."""

    target: Target
    precision: str
    backend: Backend
    out_dir: Path
    target_passes: list[PassSpec]
    backend_passes: list[PassSpec]
    backend_options: BackendOptions


@dataclass
class _Compiled:
    """The target-ready graph and everything measured on the way to it."""

    graph: Graph
    records: list[PassRecord]
    compressed: CompressionResult
    quantized: QuantizationResult | None
    samples: Dataset
    reference: Runner
    data: Datasets | None = None
    # PassTiming's entries: every pass of the build in order (report.json ``pass_timing``).
    timing: list[dict[str, Any]] = field(default_factory=list)


def _backend_options(options: BuildOptions, target: Target, backend: Backend) -> BackendOptions:
    """The target backend's options; flags given for another backend's targets are refused (ignored there)."""
    for name, other in sorted(options.backend_options.items()):
        refused = other.given() if name != target.backend else ()
        if refused:
            owner = type(other).label or f"'{name}'"
            raise UsageError(
                f"{', '.join(refused)}: for {owner} targets only; target '{target.name}' (backend "
                f"'{target.backend}') does not take {'it' if len(refused) == 1 else 'them'}. Leave "
                f"{'it' if len(refused) == 1 else 'them'} out."
            )
    return options.backend_options.get(target.backend) or backend.options_type()


def _protected(options: BuildOptions) -> tuple[Path, ...]:
    """The user's inputs: --force never replaces a directory that contains one of them."""
    data = (options.quantization.calibration_data, options.quantization.validation_data)
    return tuple(p for p in (options.model, options.sample_data, *data) if p is not None)


def _target_passes(target: Target) -> list[PassSpec]:
    """The entry's passes; an unknown pass or option is a catalogue error (exit 6) naming the file."""
    try:
        return [make_spec(name, dict(opts)) for name, opts in target.passes]
    except UsageError as exc:
        where = f"targets file '{target.source}', entry '{target.name}', key 'passes'"
        raise TargetError(f"{where}: {exc}") from exc


def _check_budget_use(options: BuildOptions, target: Target, precision: str) -> None:
    """--max-accuracy-drop binds int8 builds, compression passes and ternary; refuse it elsewhere."""
    quantized = precision in QUANTIZED_PRECISIONS or precision == "ternary"
    if options.quantization.budgets and not quantized and not options.compression.active:
        raise UsageError(
            f"--max-accuracy-drop bounds int8 builds and compression passes; this {precision} build for "
            f"'{target.name}' has neither, so it would be ignored. Leave it out, or add --precision int8 "
            f"or a compression option such as --prune."
        )


def _plan(options: BuildOptions, writes: bool = True) -> _Plan:
    target = load_catalogue(options.targets_files).select(options.target, options.runtime)
    precision = target.resolve_precision(options.precision)
    backend = backend_registry.load(target.backend, target.name)
    backend_options = _backend_options(options, target, backend)
    _check_budget_use(options, target, precision)
    out_dir = options.output or default_output(options.model, target.name)
    if writes:
        check_output(out_dir, options.force, _protected(options))
    if options.sign_key is not None:
        signing.load_private_key(options.sign_key)
    target_passes = _target_passes(target)
    pipeline = _with_io_layout(target_passes + backend.passes(target, precision), options.io_layout, target)
    return _Plan(
        target,
        precision,
        backend,
        out_dir,
        pipeline[: len(target_passes)],
        pipeline[len(target_passes) :],
        backend_options,
    )


def _compile(options: BuildOptions, plan: _Plan) -> _Compiled:
    """Frontend, target passes, compression, backend passes, support check, quantization; every
    pass through the current pass context, plus --dump-ir's ``DumpIR`` and a ``PassTiming``."""
    timing = PassTiming()
    dump = (DumpIR(options.dump_ir),) if options.dump_ir is not None else ()
    with PassContext.current().with_instruments(*dump, timing):
        compiled = _compile_passes(options, plan)
    compiled.timing = timing.entries
    return compiled


def _compile_passes(options: BuildOptions, plan: _Plan) -> _Compiled:
    """``_compile``'s work, in the pass context it sets up."""
    shapes = plan.backend_options.input_shapes(options.model, options.input_shapes)
    graph = load_model(options.model, shapes, default_batch=plan.target.default_batch)
    _check_sample_memory(options, graph)
    _check_data(options)
    check_threshold_outputs(options.accuracy_thresholds, graph.outputs, options.model)
    records = run_passes(graph, plan.target_passes)
    data = _datasets(options, graph, plan.precision)
    samples = _samples(options, graph, data)
    split = data.split if data is not None else None
    compressed = compress(graph, options, samples, plan.target, plan.precision, split)
    records += compressed.records
    records += run_passes(graph, plan.backend_passes)
    _check_supported(plan.backend, graph, plan.target, options.model)
    quantized = None
    if plan.precision in QUANTIZED_PRECISIONS:
        quantized = quantize_for_build(
            graph, plan.target, plan.backend, options.quantization, options.model, data
        )
    reference_session = compressed.session or runtime.reference_session(options.model)

    def reference(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return run(reference_session, feeds)

    return _Compiled(graph, records, compressed, quantized, samples, reference, data)


def _check_accuracy(
    options: BuildOptions, plan: _Plan, compiled: _Compiled, artifact: Artifact
) -> dict | None:
    if not options.verify or artifact.runner is None:
        return None
    state = state_pairs(compiled.graph.inputs, compiled.graph.outputs)
    accuracy = compare(
        compiled.reference,
        artifact.runner,
        compiled.samples,
        plan.precision,
        options.accuracy_thresholds,
        state,
    )
    if compiled.data is not None and compiled.data.split is not None:
        accuracy["calibrated"] = compiled.data.split.report()["calibrated"]
    elif compiled.quantized is not None:
        calibration = compiled.quantized.calibration_data
        accuracy["calibrated"] = {"source": Path(calibration.source).name, "count": len(calibration)}
    if not accuracy["passed"]:
        judged = accuracy["judged"]
        raise AccuracyError(
            f"{options.model.name}: the {plan.target.name} artifact disagrees with the input model on "
            f"{judged['count']} sample(s) of {judged['source']}: {'; '.join(accuracy['failures'])}"
            f"{_first_jump(compiled)}; no bundle was written. Run with --dump-ir DIR to see the graph "
            f"after each pass; --accuracy-threshold sets other thresholds."
        )
    return accuracy


def _first_jump(compiled: _Compiled) -> str:
    """Where the int8 simulation's error first jumps, for the failure message ('' for float builds)."""
    quantized = compiled.quantized
    if quantized is None or quantized.float_graph is None:
        return ""
    table = compare_tensors(
        quantized.float_graph, quantized.qdq, list(compiled.samples.head(CHECK_LIMIT).samples())
    )
    return f". {table.summary()} (`edgec compare` ranks the float islands that fix it)"


def prepare(options: BuildOptions) -> tuple[str, _Compiled]:
    """An int8 build up to the backend, writing nothing (``edgec compare``): (target, compiled)."""
    plan = _plan(options, writes=False)
    if plan.precision not in QUANTIZED_PRECISIONS:
        raise UsageError(
            f"edgec compare debugs quantized builds ({', '.join(sorted(QUANTIZED_PRECISIONS))}); target "
            f"'{plan.target.name}' builds {plan.precision}: give --precision int8"
        )
    return plan.target.name, _compile(options, plan)


def build(options: BuildOptions) -> BuildResult:
    plan = _plan(options)
    compiled = _compile(options, plan)
    target, precision, quantized = plan.target, plan.precision, compiled.quantized
    with staging(plan.out_dir, options.force, _protected(options)) as tmp:
        request = BuildRequest(
            target,
            precision,
            safe_name(options.model.stem),
            options=plan.backend_options,
            samples=list(compiled.samples.samples()),
            sample_data=options.sample_data,
            seed=options.seed,
            quantization=quantized,
        )
        artifact = plan.backend.emit(compiled.graph, request, tmp)
        _write_reference(tmp, compiled.samples, compiled.reference)
        accuracy = _check_accuracy(options, plan, compiled, artifact)
        records = compiled.records
        report = (
            _report(options, target, precision, records, artifact, accuracy, tmp) | compiled.compressed.report
        )
        if quantized is not None:
            report["quantization"] = quantized.report()
            report["weight_quantization"] = weight_errors(compiled.graph, quantized)
        report |= _cost_model(compiled.graph, target, precision)
        write_json(tmp / REPORT, report)
        manifest = _manifest(options, target, precision, compiled.graph, records, artifact, tmp)
        manifest |= compiled.compressed.manifest | manifest_entries(options.quantization, quantized)
        compiled.compressed.write_files(tmp)
        manifest["files"] = file_hashes(tmp)
        write_bundle_report(tmp, manifest, report)
        (tmp / "README.md").write_text(_readme(manifest, target, artifact, accuracy, tmp), encoding="utf-8")
        manifest["files"] = file_hashes(tmp)
        write_json(tmp / MANIFEST, manifest)
        # The seconds go in last, after every hash and size the bundle lists (bundle.PASS_TIMING).
        report[PASS_TIMING] = compiled.timing
        write_json(tmp / REPORT, report)
        if options.sign_key is not None:
            signing.sign(tmp / MANIFEST, options.sign_key)
    return BuildResult(plan.out_dir, manifest, report)


def _cost_model(graph: Graph, target: Target, precision: str) -> dict[str, Any]:
    """report.json's cost_model: the roofline estimate of ``edgec inspect`` for the built graph."""
    if precision not in target.peak_gops or not target.memory_bandwidth_gbs:
        return {}
    macs = {node.name: node_macs(node) for node in graph.nodes}
    return {"cost_model": estimate_latency(graph, target, precision, macs)}


def _report(
    options: BuildOptions,
    target: Target,
    precision: str,
    records: list[PassRecord],
    artifact: Artifact,
    accuracy: dict[str, Any] | None,
    tmp: Path,
) -> dict[str, Any]:
    return {
        "target": target.name,
        "precision": precision,
        "sizes": {
            "source_bytes": options.model.stat().st_size,
            "artifact_bytes": (tmp / artifact.main).stat().st_size,
        },
        "passes": [{"name": r.spec.name, "rewrites": r.rewrites} for r in records],
        "accuracy": accuracy if accuracy is not None else {"skipped": "--no-verify"},
        **({"backend": artifact.report} if artifact.report else {}),
    }


def _manifest(
    options: BuildOptions,
    target: Target,
    precision: str,
    graph: Graph,
    records: list[PassRecord],
    artifact: Artifact,
    tmp: Path,
) -> dict[str, Any]:
    return {
        "edgec_version": __version__,
        "tools": tool_versions(target.backend),
        "target": target.name,
        "backend": target.backend,
        "precision": precision,
        "artifact": artifact.main,
        "files": {},
        "inputs": describe(graph.inputs),
        "outputs": describe(graph.outputs),
        "passes": [r.spec.as_dict() for r in records],
        "source": {"file": options.model.name, "sha256": sha256_file(options.model)},
        "sizes": {"artifact_bytes": (tmp / artifact.main).stat().st_size},
        "backend_metadata": artifact.metadata,
        **_state_entry(graph),
    }


def _state_entry(graph: Graph) -> dict[str, Any]:
    """manifest.json's ``state``: a stateful model's (input, output) state pairs."""
    pairs = state_pairs(graph.inputs, graph.outputs)
    return {"state": [p.as_dict() for p in pairs]} if pairs else {}


def _readme(
    manifest: dict[str, Any], target: Target, artifact: Artifact, accuracy: dict[str, Any] | None, tmp: Path
) -> str:
    return render(
        "bundle_README.md.j2",
        model_name=Path(manifest["source"]["file"]).stem,
        version=manifest["edgec_version"],
        source=manifest["source"],
        target=target,
        precision=manifest["precision"],
        backend=manifest["backend"],
        files=file_hashes(tmp),
        inputs=manifest["inputs"],
        outputs=manifest["outputs"],
        run_instructions=artifact.run_instructions,
        device_checks=artifact.device_checks,
        accuracy=accuracy,
        artifact=artifact.main,
        preprocess=manifest.get("preprocess"),
        quantization=manifest.get("quantization"),
    )
