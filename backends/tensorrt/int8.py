"""INT8 for TensorRT: explicit Q/DQ ONNX (8.5 and later) and a calibration cache for implicit builds.

The quantization engine (``edgec build`` runs it before the backend emits)
hands over a ``QuantizationResult`` calibrated with ``TENSORRT_SCHEME``:
symmetric int8, zero point 0, per-channel weights on axis 0, Q/DQ pairs
where TensorRT wants them (REFERENCE A3). The bundle carries

- ``model.onnx``: the Q/DQ model at the parser's opset on stacks that build
  explicit INT8 (per-channel ``axis`` needs opset 13, which every supported
  stack reads); the float model on older stacks;
- ``model_fp32.onnx`` (explicit stacks only): the float model, for implicit
  INT8 and the DLA, which take their ranges from
- ``calibration.cache``: TensorRT's text cache (REFERENCE A1) with the very
  float32 scales of the Q/DQ model, headed by the target's TensorRT version.

ONNX Runtime runs the Q/DQ model here for the accuracy check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from edgec.backends.tensorrt.calibration_cache import cache_scales, parse_cache, version_int, write_cache
from edgec.backends.tensorrt.op_support import check_graph
from edgec.backends.tensorrt.scripts import CACHE, FLOAT_MODEL, MODEL
from edgec.backends.tensorrt.stack import Stack
from edgec.plugin import (
    QuantizationResult,
    QuantScheme,
    Runner,
    TargetError,
    UnsupportedOpError,
    run,
    session,
    to_onnx,
)

# TensorRT explicit quantization: symmetric, per-channel weights, Q/DQ per A3; float layers in fp16;
# written-out normalizations and spectra in float.
TENSORRT_SCHEME = QuantScheme(float_fallback="fp16", float_islands=True)


def require_result(result: object, target: str) -> QuantizationResult:
    """The build's quantization result, or a TargetError saying how to get one."""
    if not isinstance(result, QuantizationResult):
        raise TargetError(
            f"int8 for target '{target}' needs the quantization engine's result "
            f"(BuildRequest.quantization); build with `edgec build --precision int8`."
        )
    return result


def qdq_model(result: QuantizationResult, stack: Stack) -> onnx.ModelProto:
    """The Q/DQ graph as ONNX at ``stack``'s opset, refused if the parser could not read it."""
    unsupported = check_graph(result.qdq, stack)
    if unsupported:
        lines = "; ".join(f"{u.op} node '{u.node}': {u.reason}" for u in unsupported)
        raise UnsupportedOpError(
            f"the int8 Q/DQ model has {len(unsupported)} node(s) TensorRT {stack.tensorrt_text} cannot "
            f"parse: {lines}. Build with --precision fp16."
        )
    return to_onnx(result.qdq, opset=stack.max_opset)


def emit(
    result: QuantizationResult,
    qdq: onnx.ModelProto,
    float_model: onnx.ModelProto,
    stack: Stack,
    out_dir: Path,
) -> tuple[Runner, dict[str, Any]]:
    """Write the INT8 files (``qdq`` from ``qdq_model``) into ``out_dir``; return ONNX Runtime on the
    Q/DQ model and the report."""
    if stack.explicit_int8:
        onnx.save_model(qdq, out_dir / MODEL)
        onnx.save_model(float_model, out_dir / FLOAT_MODEL)
    else:
        onnx.save_model(float_model, out_dir / MODEL)
    cache = write_cache(cache_scales(result.qdq), version_int(stack.tensorrt_text))
    (out_dir / CACHE).write_text(cache, encoding="utf-8")
    sess = session(qdq, threads=1)
    pairs = sum(1 for node in qdq.graph.node if node.op_type == "QuantizeLinear")
    report = {
        "mode": "explicit Q/DQ" if stack.explicit_int8 else "implicit (calibration cache)",
        "qdq_model": MODEL if stack.explicit_int8 else None,
        "float_model": FLOAT_MODEL if stack.explicit_int8 else MODEL,
        "quantize_nodes": pairs,
        "quantized_layers": len(set(result.layers) - set(result.float_layers)),
        "float_layers": list(result.float_layers),
        "cache": {
            "file": CACHE,
            "header": cache.split("\n", 1)[0],
            "tensors": len(parse_cache(cache).scales),
        },
        "runner": "ONNX Runtime on the Q/DQ model",
    }
    return (lambda feeds: run(sess, feeds)), report
