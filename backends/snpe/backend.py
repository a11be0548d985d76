"""The SNPE backend: an SNPE-ready ONNX model, calibration inputs and the scripts that make the DLC.

Qualcomm's SDK does not install here, so the bundle carries everything
``snpe-onnx-to-dlc`` and ``snpe-dlc-quantize`` read and the scripts that call
them; the host checks what it can: the op support of the target's runtime
(before any work), the SNPE-ready ONNX against the input model under ONNX
Runtime, and an estimate of the quantized accuracy from a simulation of
SNPE's uint8 rules (``simulate.py``).

For int8, ``edgec build`` runs the quantization engine with SNPE's scheme
(``quantization_scheme``), and the bundle takes everything from its result
(``BuildRequest.quantization``): the calibration inputs are the
engine's calibration data (``--calibration-data``/``--preprocess``), its
ranges become the encodings overrides the SDK reads (``encodings.py``), and
the simulated accuracy is its Q/DQ model. Without the engine (int16x8) the
calibration inputs are the pipeline's samples and ``simulate.py`` simulates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgec.backends.snpe import encodings, op_support, raw_inputs, simulate
from edgec.backends.snpe.encodings import SNPE_SCHEME
from edgec.backends.snpe.hardware import HARDWARE_SCHEMAS
from edgec.backends.snpe.passes import BATCH_PASS, PASS_NAME
from edgec.backends.snpe.runtimes import BITWIDTHS, QUANTIZED, Runtime, runtime_of
from edgec.plugin import (
    OPSET,
    Artifact,
    Backend,
    BuildRequest,
    Dataset,
    Graph,
    ModelError,
    PassSpec,
    QuantizationResult,
    QuantScheme,
    Runner,
    Target,
    Unsupported,
    compare,
    make_spec,
    render,
    run,
    session,
    to_onnx,
    write_json,
)

MODEL_FILE = "model.onnx"
FLOAT_DLC = "model.dlc"
INPUT_LIST = "input_list.txt"
CALIBRATION_DIR = "calibration"
DEVICE_DIR = "device_input"
# REFERENCE B1: "Current ONNX Conversion supports upto ONNX Opset 21".
MAX_CONVERTER_OPSET = 21
# --use_per_channel_quantization for Conv/Deconv/FC weights (REFERENCE B1); the simulation matches it.
PER_CHANNEL = True


def device_checks(runtime: Runtime, quantized: bool, overrides: bool = False) -> list[str]:
    """What only the SDK and the device can check, for this runtime and DLC kind."""
    checks = ["conversion by snpe-onnx-to-dlc (the SDK's own op and shape checks)"]
    if overrides:
        checks.append(f"that the SDK applies {encodings.OVERRIDES_FILE} (the encodings in the DLC)")
    if quantized:
        checks.append("quantization by snpe-dlc-quantize and the accuracy of the quantized DLC")
    if runtime.name == "htp":
        checks.append("preparation of the HTP cache for the SoC")
    return [
        *checks,
        "the outputs of snpe-net-run on the device against expected_output.npz",
        "latency and memory on the device",
    ]


class SnpeBackend(Backend):
    name = "snpe"
    hardware_schemas = HARDWARE_SCHEMAS

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        """Nodes the target's runtime cannot run; ModelError for input names SNPE cannot take (dim 0
        of a quantized build's inputs: the ``snpe-batch-one`` pass)."""
        problem = raw_inputs.list_name_problem(graph.inputs)
        if problem is not None:
            raise ModelError(f"target '{target.name}': {problem}. Rename the input in the model.")
        return op_support.unsupported(graph, str(target.hardware.get("runtime", "")))

    def quantization_scheme(self, target: Target) -> QuantScheme:
        """SNPE's TF-style asymmetric uint8 (REFERENCE B3), the same on every Snapdragon target."""
        return SNPE_SCHEME

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        runtime = runtime_of(target, precision)  # refuses a precision the runtime cannot run, before any work
        ready = make_spec(PASS_NAME)
        if precision not in QUANTIZED:
            return [ready]
        return [make_spec(BATCH_PASS, {"runtime": runtime.label, "precision": precision}), ready]

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        target, precision = request.target, request.precision
        runtime = runtime_of(target, precision)
        if OPSET > MAX_CONVERTER_OPSET:
            raise ModelError(
                f"edgec exports opset {OPSET}; snpe-onnx-to-dlc converts up to {MAX_CONVERTER_OPSET}"
            )
        model_path = out_dir / MODEL_FILE
        onnx.save_model(to_onnx(graph), model_path)
        samples = Dataset.stack(request.samples, _sample_source(request.sample_data))
        raw_inputs.write_input_list(
            out_dir, DEVICE_DIR, f"{DEVICE_DIR}/{INPUT_LIST}", graph.inputs, list(samples.head(1).samples())
        )
        quantized = precision in QUANTIZED
        result = request.quantization
        calibration_set = calibration_samples(result, samples)
        if quantized:
            raw_inputs.write_input_list(
                out_dir, CALIBRATION_DIR, INPUT_LIST, graph.inputs, list(calibration_set.samples())
            )
        overrides = quantized and result is not None
        if overrides:
            write_json(out_dir / encodings.OVERRIDES_FILE, encodings.overrides(graph, result.calibration))
        context = _script_context(graph, request, runtime, calibration_set, overrides)
        for script in ("export_dlc.sh", "run_on_device.sh"):
            path = out_dir / script
            path.write_text(render(f"snpe/{script}.j2", **context), encoding="utf-8")
            os.chmod(path, 0o755)
        sess = session(model_path, threads=1)

        def runner(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return run(sess, feeds)

        checks = device_checks(runtime, quantized, overrides)
        report: dict[str, Any] = {"runtime": runtime.name, "device_checks": checks}
        if quantized:
            report["simulated_quantization"] = _simulated(
                graph, runner, samples, calibration_set, precision, result
            )
        return Artifact(
            main=MODEL_FILE,
            runner=runner,
            run_instructions=render("snpe/run_instructions.md.j2", **context),
            device_checks="; ".join(checks) + ".",
            metadata={
                "format": "onnx (SNPE-ready)",
                "opset": OPSET,
                "runtime": runtime.name,
                "dlc": context["final_dlc"],
                "quantized_dlc": quantized,
                "soc_id": target.hardware.get("soc_id"),
                "hexagon": target.hardware.get("hexagon"),
            },
            report=report,
        )


def _sample_source(data: Path | None) -> str:
    return f"--sample-data {data.name}" if data is not None else "random inputs (give --sample-data)"


def calibration_samples(result: QuantizationResult | None, samples: Dataset) -> Dataset:
    """The engine's calibration data when it ran, else the pipeline's samples."""
    if result is None:
        return samples
    data = result.calibration_data
    source = f"{Path(data.source).name} (the quantization engine's calibration)"
    return replace(data, source=source)


def _final_dlc(runtime: Runtime, precision: str) -> str:
    if precision in QUANTIZED:
        return "model_quantized.dlc"
    return "model_htp_fp16.dlc" if runtime.name == "htp" else FLOAT_DLC


def _script_context(
    graph: Graph, request: BuildRequest, runtime: Runtime, samples: Dataset, overrides: bool
) -> dict[str, Any]:
    target, precision = request.target, request.precision
    quantized = precision in QUANTIZED
    weights_bits, act_bits = BITWIDTHS.get(precision, (32, 32))
    htp_soc = str(target.hardware.get("soc_id", "")).lower() if runtime.name == "htp" else None
    tools = ["snpe-onnx-to-dlc"] + (["snpe-dlc-quantize"] if quantized else [])
    if htp_soc and not quantized:
        tools.append("snpe-dlc-graph-prepare")
    flags = list(runtime.net_run_flags) + (
        ["--gpu_mode", "float16"] if runtime.name == "gpu" and precision == "fp16" else []
    )
    return {
        "model_file": MODEL_FILE,
        "float_dlc": FLOAT_DLC,
        "final_dlc": _final_dlc(runtime, precision),
        "target_name": target.name,
        "soc": target.hardware.get("soc", target.name),
        "hexagon": target.hardware.get("hexagon", ""),
        "notes": target.hardware.get("notes", ""),
        "runtime": runtime.name,
        "uses_hexagon": runtime.uses_hexagon,
        "precision": precision,
        "quantized": quantized,
        "tools": tools,
        "input_dims": [(v.name, ",".join(str(d) for d in v.shape)) for v in graph.inputs],
        "dlc_inputs": [(v.name, list(raw_inputs.dlc_shape(v))) for v in graph.inputs],
        "outputs": [v.name for v in graph.outputs],
        "input_list": INPUT_LIST,
        "overrides": encodings.OVERRIDES_FILE if overrides else None,
        "calibration_count": len(samples),
        "calibration_source": samples.source,
        "weights_bits": weights_bits,
        "act_bits": act_bits,
        "per_channel": PER_CHANNEL,
        "htp_soc": htp_soc,
        "net_run_flags": flags,
        "device_dir": f"/data/local/tmp/edgec/{request.model_name}",
        "device_list": f"{DEVICE_DIR}/{INPUT_LIST}",
        "opset": OPSET,
    }


def top1_agreement(
    reference: Runner, other: Runner, samples: Sequence[Mapping[str, np.ndarray]]
) -> dict[str, float]:
    """Per output shaped [1, classes]: the share of samples whose argmax agrees."""
    agree: dict[str, int] = {}
    for feeds in samples:
        ref, out = reference(feeds), other(feeds)
        for name, value in ref.items():
            if value.ndim == 2 and value.shape[0] == 1 and value.shape[1] > 1:
                agree[name] = agree.get(name, 0) + int(np.argmax(value) == np.argmax(out[name]))
    return {name: count / len(samples) for name, count in agree.items()}


def _simulated(
    graph: Graph,
    runner: Runner,
    samples: Dataset,
    calibration_set: Dataset,
    precision: str,
    result: QuantizationResult | None,
) -> dict[str, Any]:
    weights_bits, act_bits = BITWIDTHS[precision]
    if result is not None:
        simulated = simulate.qdq_runner(result.qdq)
        method = f"the quantization engine's '{result.calibration.config.method}' ranges (SNPE_SCHEME)"
    else:
        simulated = simulate.simulate(graph, list(calibration_set.samples()), weights_bits, act_bits)
        method = "min/max ranges (snpe-dlc-quantize's default tf quantizer)"
    compared = compare(runner, simulated, samples, precision)
    return {
        "what": (
            f"SNPE's asymmetric quantization (REFERENCE B3) simulated with ONNX Runtime: {weights_bits}-bit "
            f"weights{' per channel' if PER_CHANNEL else ''}, {act_bits}-bit activations from {method} "
            "on the calibration samples below, compared with the float model on the accuracy samples; "
            "an estimate, not the DLC"
        ),
        "calibration_samples": len(calibration_set),
        "calibration_source": calibration_set.source,
        "accuracy_samples": len(samples),
        "top1_agreement": top1_agreement(runner, simulated, list(samples.samples())),
        **{key: compared[key] for key in ("thresholds", "passed", "outputs")},
    }


BACKEND = SnpeBackend()
