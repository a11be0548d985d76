"""What TensorRT's ONNX parser accepts, as a table of check functions that say why.

Every IR op is in onnx-tensorrt's "Y" list (REFERENCE A7); what remains are
per-op restrictions, the opset the target's parser reads, tensor types and
ranks. A check returns None when the node is fine, else the reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import defs

from edgec.backends.tensorrt.stack import Stack
from edgec.plugin import Graph, Node, Op, Unsupported

Check = Callable[[Node, Stack], str | None]

# nvinfer1::Dims::MAX_DIMS: TensorRT tensors have at most 8 dimensions.
MAX_RANK = 8

# Types TensorRT's parser takes (REFERENCE A7): DOUBLE is cast to FLOAT, INT64 narrowed to INT32
# by 8.x; INT8 only through Q/DQ; UINT8 only as a network input or output.
_TRT_TYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float16, np.float64, np.int32, np.int64, np.bool_)
)
_IO_ONLY = frozenset({np.dtype(np.uint8)})
_QUANTIZED = frozenset({np.dtype(np.int8)})

# Ops edgec's exporter rewrites into older spellings when the parser's opset lacks them.
_LOWERED = frozenset({Op.HARD_SWISH, Op.GELU, Op.SILU})

# REFERENCE A7, Resize: modes nearest/linear; these coordinate transformations; no antialias.
_RESIZE_MODES = frozenset({"nearest", "linear"})
_RESIZE_TRANSFORMS = frozenset(
    {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
)


def _opset(node: Node, stack: Stack) -> str | None:
    if node.op in _LOWERED:
        return None
    try:
        defs.get_schema(node.op.value, stack.max_opset)
    except defs.SchemaError:
        since = defs.get_schema(node.op.value).since_version
        return (
            f"{node.op.value} exists from ONNX opset {since}, and TensorRT {stack.tensorrt_text}'s parser "
            f"reads opsets up to {stack.max_opset}"
        )
    return None


def _average_pool(node: Node, stack: Stack) -> str | None:
    # REFERENCE A7: "AveragePool 2D/3D only, dilations empty or 1".
    if len(node.attrs["kernel_shape"]) not in (2, 3):
        return "TensorRT pools in 2D or 3D only"
    if any(d != 1 for d in node.attrs.get("dilations", [])):
        return "TensorRT's AveragePool takes no dilations"
    return None


def _resize(node: Node, stack: Stack) -> str | None:
    mode = node.attrs.get("mode", "nearest")
    transform = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode not in _RESIZE_MODES:
        return f"TensorRT resizes with nearest or linear interpolation, not {mode}"
    if transform not in _RESIZE_TRANSFORMS:
        return f"TensorRT's Resize has no coordinate transformation '{transform}'"
    if node.attrs.get("antialias", 0):
        return "TensorRT's Resize has no antialiasing"
    return None


def _layer_norm(node: Node, stack: Stack) -> str | None:
    # REFERENCE A7: "LayerNormalization only output Y".
    if any(out.uses for out in node.outputs[1:]):
        return "TensorRT's LayerNormalization produces only Y; the mean and inverse deviation are used here"
    return None


def _constant_inputs(*indices: int, what: str) -> Check:
    # REFERENCE A7: Slice/Squeeze axes initializers, Unsqueeze axes constant, Pad axes initializer.
    def check(node: Node, stack: Stack) -> str | None:
        if node.computed_input(*indices) is not None:
            return f"TensorRT's parser needs {node.op.value}'s {what} as constants"
        return None

    return check


def _quantize(node: Node, stack: Stack) -> str | None:
    # REFERENCE A3/A7: symmetric only (zero point 0), INT8 quantized type, per-channel only on weights.
    zero_point = node.const_input(2)
    if zero_point is not None and np.any(zero_point != 0):
        return "TensorRT quantizes symmetrically: the zero point must be 0"
    scale = node.const_input(1)
    if scale is None:
        return "TensorRT needs the scale as a build-time constant"
    if np.any(scale <= 0):
        return "TensorRT needs strictly positive scales"
    quantized = node.output if node.op is Op.QUANTIZE_LINEAR else node.inputs[0]
    if quantized is not None and quantized.dtype not in _QUANTIZED:
        return f"TensorRT quantizes to int8 here, not {quantized.dtype.name}"
    return None


def _cast(node: Node, stack: Stack) -> str | None:
    to = np.dtype(node.attrs["to"])
    if to not in _TRT_TYPES:
        return f"TensorRT has no {to.name} tensors"
    return None


CHECKS: dict[Op, tuple[Check, ...]] = {
    Op.AVERAGE_POOL: (_average_pool,),
    Op.RESIZE: (_resize,),
    Op.LAYER_NORMALIZATION: (_layer_norm,),
    Op.SLICE: (_constant_inputs(1, 2, 3, 4, what="starts, ends, axes and steps"),),
    Op.SQUEEZE: (_constant_inputs(1, what="axes"),),
    Op.UNSQUEEZE: (_constant_inputs(1, what="axes"),),
    Op.PAD: (_constant_inputs(3, what="axes"),),
    Op.QUANTIZE_LINEAR: (_quantize,),
    Op.DEQUANTIZE_LINEAR: (_quantize,),
    Op.CAST: (_cast,),
}


def _tensor_reason(node: Node, graph: Graph) -> str | None:
    for value in [*node.inputs, *node.outputs]:
        if value is None:
            continue
        if value.rank > MAX_RANK:
            return f"tensor '{value.name}' has {value.rank} dimensions; TensorRT allows at most {MAX_RANK}"
        dtype = value.dtype
        if dtype in _TRT_TYPES or (
            dtype in _QUANTIZED and node.op in (Op.QUANTIZE_LINEAR, Op.DEQUANTIZE_LINEAR)
        ):
            continue
        if dtype in _IO_ONLY and (value in graph.inputs or value in graph.outputs):
            continue
        return f"tensor '{value.name}' is {dtype.name}, a type TensorRT's parser does not take here"
    return None


def check_graph(graph: Graph, stack: Stack) -> list[Unsupported]:
    """Every node TensorRT's parser for ``stack`` cannot take, with the reason."""
    found = []
    for node in graph.nodes:
        reasons = [_opset(node, stack), _tensor_reason(node, graph)]
        reasons += [check(node, stack) for check in CHECKS.get(node.op, ())]
        reason = next((r for r in reasons if r is not None), None)
        if reason is not None:
            found.append(Unsupported(node.name, node.op.value, reason))
    return found
