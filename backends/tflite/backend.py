"""The TFLite backend: ARM CPUs (XNNPACK), the Android GPU delegate, the Edge TPU, TFLite Micro.

What differs between those targets comes from their hardware entry in targets.toml:
``runtime`` (xnnpack, gpu-delegate, edgetpu, tflite-micro), ``integer_only`` and
``io_dtype`` (int8/uint8 inputs and outputs of integer-only models), and the MCU budgets.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgec.backends.tflite import micro
from edgec.backends.tflite.bundle_runner import bundle_runner
from edgec.backends.tflite.converter import Calibration, Recipe, convert
from edgec.backends.tflite.flatbuffer import TfliteModel, read_model
from edgec.backends.tflite.hardware import HARDWARE_SCHEMAS
from edgec.backends.tflite.op_support import (
    edgetpu_partition_end,
    fused_recurrent,
    gpu_fallbacks,
    lowering_problems,
)
from edgec.backends.tflite.quantization import (
    Range,
    fake_quant_ranges,
    tflite_scheme,
    with_rounded_weights,
)
from edgec.backends.tflite.representative_data import dataset_feeds, representative_inputs, stored_feeds
from edgec.backends.tflite.runner import LiteRTRunner, Port
from edgec.plugin import (
    MIN_COSINE,
    Artifact,
    Backend,
    BuildRequest,
    Graph,
    PassSpec,
    QuantParams,
    QuantScheme,
    Runner,
    Target,
    Unsupported,
    Value,
    make_spec,
    render,
    state_pairs,
    stored_perm,
    stored_shape,
)

MODEL_FILE = "model.tflite"
COMPILED_FILE = "model_edgetpu.tflite"
CALIBRATED = ("int8", "int16x8")


def recipe_for(target: Target, precision: str) -> Recipe:
    integer_only = bool(target.hardware.get("integer_only", False))
    io_dtype = str(target.hardware.get("io_dtype", "int8")) if integer_only else "float32"
    return Recipe(precision, integer_only, io_dtype, str(target.hardware.get("runtime", "xnnpack")))


class TFLiteBackend(Backend):
    name = "tflite"
    hardware_schemas = HARDWARE_SCHEMAS
    tools: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "tensorflow": ("tensorflow-cpu", "tensorflow"),
        "litert": ("ai-edge-litert",),
    }

    def bundle_runner(self, artifact: Path, manifest: Mapping[str, Any]) -> tuple[str, Runner] | None:
        return bundle_runner(artifact, manifest)

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        problems = lowering_problems(graph)
        if not problems and target.hardware.get("runtime") == "edgetpu":
            end = edgetpu_partition_end(graph, target.hardware)
            problems = [end] if end is not None else []
        return problems

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        # int8 kernels fuse only ReLU-like activations: the others need their inputs' ranges.
        unfuse = [make_spec("unfuse-activation")] if precision in CALIBRATED else []
        return [make_spec("conv1d-to-2d"), *unfuse, make_spec("layout")]

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        target, hardware = request.target, request.target.hardware
        runtime = str(hardware.get("runtime", "xnnpack"))
        where = f"{request.model_name} for target '{target.name}'"
        recipe = recipe_for(target, request.precision)
        if runtime == "tflite-micro":
            micro.check_flash_early(graph, hardware, where)
        calibration, ranges, calibration_source = self._calibration(graph, request)
        quantized = request.quantization
        float_layers: list[str] = []
        converted = graph
        if quantized is not None and ranges:
            # The engine's float layers and GPTQ weights reach the converter with its ranges.
            float_layers = list(quantized.float_layers)
            converted = with_rounded_weights(graph, quantized.rounded, float_layers)
        data = convert(converted, recipe, calibration, where, ranges, float_layers)
        (out_dir / MODEL_FILE).write_bytes(data)
        model = read_model(data)
        metadata: dict[str, Any] = {
            "format": "tflite",
            "runtime": runtime,
            "integer_only": recipe.integer_only,
            "ops": _op_histogram(model),
            "calibration": calibration_source,
        }
        if float_layers:
            metadata["float_layers"] = float_layers
        device_checks = ""
        if runtime == "gpu-delegate":
            fallbacks = gpu_fallbacks([(op.name, op.version) for op in model.ops])
            metadata["gpu_delegate_fallbacks"] = fallbacks
            device_checks = _gpu_note(fallbacks)
        micro_info = (
            micro.write_sources(out_dir, data, model, hardware, where) if runtime == "tflite-micro" else None
        )
        if micro_info is not None:
            metadata["micro"] = micro_info
        if runtime == "edgetpu":
            _write_edgetpu_script(out_dir)
        runner = LiteRTRunner(data, graph)
        metadata["io"] = _record_io(graph, runner)
        self._write_scripts(out_dir, graph, request, runner)
        instructions = render(
            "tflite/run_instructions.md.j2",
            model_file=MODEL_FILE,
            compiled_file=COMPILED_FILE,
            precision=request.precision,
            integer_only=recipe.integer_only,
            io_dtype=recipe.io_dtype,
            runtime=runtime,
            io_lines=_io_lines(graph, runner),
            edgetpu=runtime == "edgetpu",
            micro=micro_info,
        )
        return Artifact(MODEL_FILE, runner, instructions, device_checks, metadata)

    def quantization_scheme(self, target: Target) -> QuantScheme:
        return tflite_scheme(target)

    def _calibration(
        self, graph: Graph, request: BuildRequest
    ) -> tuple[Calibration | None, dict[str, Range] | None, str | None]:
        """The representative data, the engine's ranges (int8 builds) and where they came from."""
        if request.precision not in CALIBRATED:
            return None, None, None
        result = request.quantization
        if result is not None and request.precision == "int8" and fused_recurrent(graph):
            # TFLite's integer LSTM needs the converter's statistics of its gates: it calibrates.
            feeds = dataset_feeds(graph, result.calibration_data)
            source = f"TensorFlow's converter (integer LSTM) on {len(feeds)} samples"
            return (lambda: feeds), None, f"{source}: {Path(result.calibration_data.source).name}"
        if result is not None and request.precision == "int8":
            ranges = fake_quant_ranges(graph, result.calibration)
            source = (
                f"edgec.quantization ranges ({result.calibration.config.method}) from "
                f"{len(result.calibration_data)} samples: {Path(result.calibration_data.source).name}"
            )
            feeds = dataset_feeds(graph, result.calibration_data)
            return (lambda: feeds), ranges, source
        samples = representative_inputs(graph, request.sample_data, request.seed)
        feeds = stored_feeds(graph, samples)
        return (lambda: feeds), None, f"{len(feeds)} samples: {samples.source}"

    def _write_scripts(
        self, out_dir: Path, graph: Graph, request: BuildRequest, runner: LiteRTRunner
    ) -> None:
        script = render(
            "tflite/run.py.j2",
            model_file=MODEL_FILE,
            compiled_file=COMPILED_FILE,
            inputs=[(p.name, list(p.perm)) for p in runner.inputs],
            outputs=[(p.name, list(p.perm)) for p in runner.outputs],
            min_cosine=MIN_COSINE.get(request.precision, 0.99),
            state=[(p.input, p.output) for p in state_pairs(graph.inputs, graph.outputs)],
        )
        (out_dir / "run.py").write_text(script, encoding="utf-8")
        source = render(
            "tflite/run.cc.j2", model_file=MODEL_FILE, threads=1, input_lines=_io_lines(graph, runner)
        )
        (out_dir / "run.cc").write_text(source, encoding="utf-8")


def _op_histogram(model: TfliteModel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in model.op_names():
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _gpu_note(fallbacks: Sequence[str]) -> str:
    if not fallbacks:
        return (
            "Every op of the model is in the GPU delegate's op list; check the delegate's log on the device."
        )
    return (
        "These ops would fall back to the CPU under the GPU delegate, splitting the graph (often slower "
        "than all-CPU): " + "; ".join(fallbacks) + "."
    )


def _write_edgetpu_script(out_dir: Path) -> None:
    path = out_dir / "compile_edgetpu.sh"
    path.write_text(
        render("tflite/compile_edgetpu.sh.j2", model_file=MODEL_FILE, compiled_file=COMPILED_FILE),
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _record_io(graph: Graph, runner: LiteRTRunner) -> dict[str, list[dict[str, Any]]]:
    """The .tflite's I/O tensors; quantized ones also set ``quant`` on the graph's values."""
    described: dict[str, list[dict[str, Any]]] = {}
    for key, values, ports in (
        ("inputs", graph.inputs, runner.inputs),
        ("outputs", graph.outputs, runner.outputs),
    ):
        described[key] = [_port_entry(value, port) for value, port in zip(values, ports, strict=True)]
    return described


def _port_entry(value: Value, port: Port) -> dict[str, Any]:
    if port.quantized:
        value.quant = QuantParams(np.asarray(port.scale), np.asarray(port.zero_point), port.dtype)
    return {
        "name": value.name,
        "shape": list(stored_shape(value)),
        "layout": value.layout.value or None,
        "permutation_from_input_model": list(stored_perm(value)),
        **port.describe(),
    }


def _io_lines(graph: Graph, runner: LiteRTRunner) -> list[str]:
    lines = []
    for kind, values, ports in (
        ("input", graph.inputs, runner.inputs),
        ("output", graph.outputs, runner.outputs),
    ):
        for i, (value, port) in enumerate(zip(values, ports, strict=True)):
            quant = f", scale {port.scale:.6g}, zero point {port.zero_point}" if port.quantized else ""
            layout = value.layout.value or "as in the input model"
            lines.append(
                f"{kind} {i} '{value.name}': {port.dtype.name}{list(stored_shape(value))} ({layout}){quant}"
            )
    return lines


BACKEND = TFLiteBackend()
