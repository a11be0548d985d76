"""Build settings per TensorRT release and precision, and the device scripts rendered from them.

One ``Setting`` says how to turn one ONNX file into an engine: trtexec
flags, the Python API's builder flags, strong typing, the calibration
cache. build_engine.sh and build_engine.py render the same settings, so the
two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgec.backends.tensorrt.dla import DLA_PRECISIONS
from edgec.backends.tensorrt.profile import dynamic, python_profile, trtexec_flags
from edgec.backends.tensorrt.shape_profile import ShapeProfile
from edgec.backends.tensorrt.stack import Stack
from edgec.plugin import MIN_COSINE, Graph, render

MODEL = "model.onnx"
FLOAT_MODEL = "model_fp32.onnx"
CACHE = "calibration.cache"
SCRIPTS = ("build_engine.sh", "build_engine.py", "infer.py", "check_accuracy.sh", "device_check.py")
# Elementwise tolerance of check_accuracy.sh's Polygraphy comparison, by precision.
TOLERANCE = {"fp32": "1e-3", "fp16": "2e-2", "int8": "1e-1"}


@dataclass(frozen=True)
class Setting:
    onnx: str
    trtexec: tuple[str, ...]
    builder_flags: tuple[str, ...]
    strongly_typed: bool
    calib: str | None
    note: str


def _implicit(stack: Stack, onnx: str) -> Setting:
    deprecated = " (deprecated since TensorRT 10.1)" if stack.strongly_typed else ""
    return Setting(
        onnx,
        ("--int8", "--fp16"),
        ("INT8", "FP16"),
        False,
        CACHE,
        f"implicit INT8: the float ONNX with the ranges of calibration.cache{deprecated}",
    )


def gpu_setting(stack: Stack, precision: str) -> Setting:
    if precision == "fp16":
        return Setting(
            MODEL, ("--fp16",), ("FP16",), False, None, "FP16 kernels wherever TensorRT finds them faster"
        )
    if precision != "int8":
        return Setting(MODEL, (), (), False, None, "FP32 (TF32 where the GPU has it)")
    if not stack.explicit_int8:
        return _implicit(stack, MODEL)
    if stack.strongly_typed:
        note = "explicit Q/DQ INT8, strongly typed: the ONNX's types decide, no precision flags (A2)"
        return Setting(MODEL, ("--stronglyTyped",), (), True, None, note)
    return Setting(
        MODEL, ("--int8", "--fp16"), ("INT8", "FP16"), False, None, "explicit Q/DQ INT8, FP16 elsewhere"
    )


def dla_setting(stack: Stack, precision: str) -> Setting | None:
    """DLA builds: FP16, or INT8 from the calibration cache (no Q/DQ on the DLA of these releases, A8)."""
    if stack.dla_cores == 0 or precision not in DLA_PRECISIONS:
        return None
    if precision == "fp16":
        return Setting(MODEL, ("--fp16",), ("FP16",), False, None, "FP16 on the DLA")
    return _implicit(stack, FLOAT_MODEL if stack.explicit_int8 else MODEL)


def settings(stack: Stack, precision: str) -> dict[str, Setting]:
    found = {"gpu": gpu_setting(stack, precision)}
    dla = dla_setting(stack, precision)
    if dla is not None:
        found["dla"] = dla
    if precision == "int8" and stack.explicit_int8:
        found["implicit"] = _implicit(stack, FLOAT_MODEL)
    return found


@dataclass(frozen=True)
class DlaChoice:
    """The DLA core baked in as the scripts' default ("" = GPU) and whether layers may fall back."""

    default_core: str = ""
    gpu_fallback: bool = True


def write_scripts(
    out_dir: Path,
    graph: Graph,
    stack: Stack,
    precision: str,
    dla: DlaChoice,
    profiles: Sequence[ShapeProfile] = (),
) -> dict[str, Setting]:
    """Render the device scripts into ``out_dir``; return the settings they use.

    A dynamic shape profile drops the DLA choice: the DLA takes no dynamic dims (REFERENCE A8).
    """
    found = settings(stack, precision)
    if dynamic(profiles):
        found.pop("dla", None)
    dla_context = None
    if "dla" in found:
        dla_context = {**asdict(found["dla"]), **asdict(dla), "cores": stack.dla_cores}
    context: dict[str, Any] = {
        "module": stack.module,
        "trt_version": stack.tensorrt_text,
        "jetpack": stack.jetpack,
        "precision": precision,
        "workspace_mib": stack.workspace_mib,
        "mem_pool": stack.mem_pool_flag,
        "gpu": asdict(found["gpu"]),
        "dla": dla_context,
        "implicit": asdict(found["implicit"]) if "implicit" in found else None,
        "settings": {key: asdict(setting) for key, setting in found.items()},
        "shape_flags": trtexec_flags(profiles) if profiles else [],
        "profile": python_profile(profiles),
        "compatibility": stack.compatibility(),
        "inputs": [v.name for v in graph.inputs],
        "outputs": [v.name for v in graph.outputs],
        "onnx": MODEL,
        "min_cosine": MIN_COSINE.get(precision, 0.99),
        "tolerance": TOLERANCE.get(precision, "1e-1"),
    }
    for script in SCRIPTS:
        path = out_dir / script
        path.write_text(render(f"tensorrt/{script}.j2", **context), encoding="utf-8")
        path.chmod(0o755 if script.endswith(".sh") else 0o644)
    return found
