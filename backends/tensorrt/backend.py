"""The TensorRT backend for Jetson targets: TensorRT-ready ONNX, build settings and device scripts.

TensorRT's builder needs the Jetson's GPU, so the bundle carries the ONNX
(at the opset the target's parser reads), the build settings as scripts,
and what the device needs to check itself. Here, ONNX Runtime runs the
emitted ONNX for the accuracy check: as is at fp32, with fp16 rounding
simulated at fp16, and the Q/DQ model at int8.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import onnx

from edgec.backends.tensorrt import dla, fp16, int8, local_engine, profile, recurrent
from edgec.backends.tensorrt.hardware import HARDWARE_SCHEMAS, sparse_kernels
from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tensorrt.op_support import check_graph
from edgec.backends.tensorrt.options import TensorRTOptions, add_arguments
from edgec.backends.tensorrt.scripts import (
    CACHE,
    FLOAT_MODEL,
    MODEL,
    DlaChoice,
    Setting,
    write_scripts,
)
from edgec.backends.tensorrt.shape_profile import ShapeProfile
from edgec.backends.tensorrt.stack import Stack
from edgec.plugin import (
    RECURRENT,
    Artifact,
    Backend,
    BuildRequest,
    Graph,
    PassSpec,
    QuantScheme,
    Runner,
    SparseKernels,
    Target,
    TargetError,
    Unsupported,
    render,
    run,
    session,
    to_onnx,
)


class TensorRTBackend(Backend):
    name = "tensorrt"
    hardware_schemas = HARDWARE_SCHEMAS
    options_type = TensorRTOptions
    tools: ClassVar[Mapping[str, tuple[str, ...]]] = {"tensorrt": ("tensorrt",)}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_arguments(parser)

    def parse_options(self, args: argparse.Namespace) -> TensorRTOptions:
        return TensorRTOptions.from_args(args)

    def sparse_kernels(self, target: Target) -> SparseKernels:
        return sparse_kernels(target)

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        return check_graph(graph, Stack.of(target))

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        return []

    def quantization_scheme(self, target: Target) -> QuantScheme:
        return TENSORRT_SCHEME

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        stack = Stack.of(request.target)
        options = request.options if isinstance(request.options, TensorRTOptions) else TensorRTOptions()
        options.validate(request.target, request.precision, stack)
        if options.build_engine:
            local_engine.require_builder()
        precision = request.precision
        model = self._dynamic(to_onnx(graph, opset=stack.max_opset), options, "model.onnx")
        report: dict[str, Any] = {"opset": stack.max_opset}
        onnx.save_model(model, out_dir / MODEL)
        if precision == "int8":
            quantized = int8.require_result(request.quantization, request.target.name)
            qdq = self._dynamic(int8.qdq_model(quantized, stack), options, "the int8 Q/DQ model")
            if stack.strongly_typed:
                qdq = recurrent.half_recurrent(qdq)
            runner, report["int8"] = int8.emit(quantized, qdq, model, stack, out_dir)
            report["int8"] |= _float_recurrent(graph, stack)
        elif precision == "fp16":
            report["fp16_overflow"] = fp16.overflows(graph, request.samples)
            runner = _ort_runner(fp16.simulate(model))
        else:
            runner = _ort_runner(model)
        if stack.dla_cores and precision in dla.DLA_PRECISIONS:
            report["dla"] = _dla_report(graph, options)
        choice = DlaChoice("" if options.dla_core is None else str(options.dla_core), options.gpu_fallback)
        used = write_scripts(out_dir, graph, stack, precision, choice, options.shape_profile)
        if options.build_engine:
            report["engine"] = local_engine.build_here(out_dir)
        report["device_checks"] = DEVICE_CHECKS
        context = {
            "stack": stack,
            "precision": precision,
            "settings": used,
            "choice": choice,
            "report": report,
            "profiles": [p.as_dict() for p in options.shape_profile],
        }
        return Artifact(
            main=MODEL,
            runner=runner,
            run_instructions=render("tensorrt/run_instructions.md.j2", **context),
            device_checks=render("tensorrt/device_checks.md.j2", **context),
            metadata=_metadata(stack, precision, used, choice) | _profile_metadata(options.shape_profile),
            report=report,
        )

    @staticmethod
    def _dynamic(model: onnx.ModelProto, options: TensorRTOptions, label: str) -> onnx.ModelProto:
        if not profile.dynamic(options.shape_profile):
            return model
        return profile.make_dynamic(model, options.shape_profile, label)


DEVICE_CHECKS = [
    "building the engine (build_engine.sh / build_engine.py) and TensorRT's own layer support",
    "the engine's outputs against ONNX Runtime and the expected output (check_accuracy.sh, infer.py)",
    "which layers the DLA takes (TensorRT decides on the device; report.json's list is an estimate)",
    "latency and throughput (trtexec --loadEngine=model.engine)",
]


def _ort_runner(model: onnx.ModelProto) -> Runner:
    sess = session(model, threads=1)
    return lambda feeds: run(sess, feeds)


def _float_recurrent(graph: Graph, stack: Stack) -> dict[str, Any]:
    """The recurrent layers an int8 build leaves in float (they get no Q/DQ), and in which float: fp16
    through ``--fp16``, or on strongly typed stacks through the fp16 types ``half_recurrent`` gives them."""
    layers = [n.name for n in graph.nodes if n.op in RECURRENT]
    if not layers:
        return {}
    how = "fp16 operands in the Q/DQ ONNX (strongly typed)" if stack.strongly_typed else "--fp16"
    return {"float_recurrent_layers": {"layers": layers, "precision": "fp16", "how": how}}


def _dla_report(graph: Graph, options: TensorRTOptions) -> dict[str, Any]:
    on_gpu = dla.gpu_layers(graph)
    if options.dla_core is not None and not options.gpu_fallback and on_gpu:
        listed = "; ".join(f"{u.op} '{u.node}': {u.reason}" for u in on_gpu[:10])
        raise TargetError(
            f"--no-gpu-fallback: {len(on_gpu)} layer(s) cannot run on the DLA ({listed}). "
            f"Allow GPU fallback (drop --no-gpu-fallback) or build for the GPU."
        )
    return {
        "default_core": options.dla_core,
        "gpu_fallback": options.gpu_fallback,
        "layers": len(graph.nodes),
        "estimated_gpu_layers": [{"node": u.node, "op": u.op, "reason": u.reason} for u in on_gpu],
    }


def _metadata(stack: Stack, precision: str, used: Mapping[str, Setting], choice: DlaChoice) -> dict[str, Any]:
    files = sorted({s.onnx for s in used.values()} | {s.calib for s in used.values() if s.calib})
    return {
        "format": "onnx",
        "opset": stack.max_opset,
        "runtime": f"TensorRT {stack.tensorrt_text}",
        "compatibility": stack.compatibility(),
        "files": files,
        "int8": None if precision != "int8" else {"explicit_qdq": stack.explicit_int8, "cache": CACHE},
        "float_model": FLOAT_MODEL if FLOAT_MODEL in files else None,
        "dla": None
        if "dla" not in used
        else {"cores": stack.dla_cores, "default_core": choice.default_core or None},
        "settings": {key: {"trtexec": list(s.trtexec), "onnx": s.onnx} for key, s in used.items()},
    }


def _profile_metadata(profiles: Sequence[ShapeProfile]) -> dict[str, Any]:
    if not profiles:
        return {}
    return {"shape_profile": [p.as_dict() | {"dynamic_axes": list(p.dynamic_axes)} for p in profiles]}


BACKEND = TensorRTBackend()
