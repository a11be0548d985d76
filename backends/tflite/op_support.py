"""What the TFLite targets can run, as tables with check functions that say why.

Three layers, each read from the target's ``hardware.runtime`` (targets.toml):

- the lowering (every TFLite target): an op must have a lowering function and
  the parameters that lowering handles (constant weights, representable
  padding, Resize modes TFLite has);
- the Edge TPU (``edgetpu``): checked on the IR before conversion, in graph
  order; the compiler maps ops up to the first one it cannot run, so the
  first failing node is where the Edge TPU partition would end;
- the GPU delegate (``gpu-delegate``) and TFLite Micro (``tflite-micro``):
  checked on the TFLite ops of the converted model (names and versions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edgec.backends.tflite.lowering import LOWERING, tf_padding
from edgec.backends.tflite.lowering_recurrent import fusable
from edgec.backends.tflite.lowering_sequence import recurrent_check
from edgec.plugin import Graph, Node, Op, Unsupported, stored_shape

# -- the lowering --------------------------------------------------------------------------


def _constant_inputs(*indexes: int) -> Callable[[Node], str | None]:
    def check(node: Node) -> str | None:
        value = node.computed_input(*indexes)
        if value is None:
            return None
        index = next(i for i in indexes if node.input(i) is value)
        return f"input {index} ('{value.name}') must be a constant for TFLite's kernels"

    return check


def _conv_check(node: Node) -> str | None:
    if (reason := _constant_inputs(1, 2)(node)) is not None:
        return reason
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET":
        return "auto_pad is not canonicalized; run the cleanup passes first"
    return None


def _conv_transpose_check(node: Node) -> str | None:
    # TF's conv2d_transpose has only SAME/VALID cropping and no output_padding of its own.
    if (reason := _constant_inputs(1, 2)(node)) is not None:
        return reason
    if node.attrs.get("group", 1) != 1:
        return "grouped ConvTranspose has no TFLite kernel (TRANSPOSE_CONV is ungrouped)"
    pads, out = node.attrs["pads"], node.output.shape or ()
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    same = all(out[2 + a] == source.shape[2 + a] * node.attrs["strides"][a] for a in range(2))
    if any(pads) and not same:
        return f"pads {pads} are neither none nor TF's SAME, the only croppings TRANSPOSE_CONV has"
    return None


def _pool_check(node: Node) -> str | None:
    # TFLite's pools have SAME/VALID padding only; AVERAGE_POOL_2D's SAME excludes the padding.
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    attrs = node.attrs
    if attrs.get("ceil_mode", 0) and _ceil_changes_shape(node):
        return "ceil_mode=1 with a partial last window has no TFLite equivalent"
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        return "dilated pooling has no TFLite kernel"
    if node.op is Op.AVERAGE_POOL and any(attrs.get("pads", [0] * 4)):
        same = tf_padding(
            source.shape[2:4], attrs["kernel_shape"], attrs["strides"], [1, 1], list(attrs["pads"])
        )
        if same is None or attrs.get("count_include_pad", 0):
            return "padded AveragePool is representable only as TF SAME padding without count_include_pad"
    return None


def _ceil_changes_shape(node: Node) -> bool:
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    attrs = node.attrs
    for axis in range(2):
        span = (
            source.shape[2 + axis]
            + attrs["pads"][axis]
            + attrs["pads"][axis + 2]
            - attrs["kernel_shape"][axis]
        )
        if span % attrs["strides"][axis]:
            return True
    return False


def _resize_check(node: Node) -> str | None:
    # TFLite has RESIZE_BILINEAR (align_corners / half_pixel_centers) and RESIZE_NEAREST_NEIGHBOR.
    attrs = node.attrs
    mode, transform = attrs.get("mode", "nearest"), attrs.get("coordinate_transformation_mode", "half_pixel")
    if len(node.output.shape or ()) != 4:
        return "only 4-D (image) Resize maps to TFLite's resize ops"
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        return None
    if mode == "nearest" and transform == "asymmetric" and attrs.get("nearest_mode", "floor") == "floor":
        return None
    return f"Resize mode '{mode}' with coordinate_transformation_mode '{transform}' has no TFLite kernel"


def _pad_check(node: Node) -> str | None:
    if (reason := _constant_inputs(1, 2)(node)) is not None:
        return reason
    if node.attrs.get("mode", "constant") not in ("constant", "reflect"):
        return f"Pad mode '{node.attrs['mode']}' has no TFLite kernel (constant and reflect do)"
    if node.input(3) is not None:
        return "Pad with an axes input is not supported by the TFLite lowering"
    return None


def _split_check(node: Node) -> str | None:
    return _constant_inputs(1)(node)


LOWERING_CHECKS: dict[Op, Callable[[Node], str | None]] = {
    Op.CONV: _conv_check,
    Op.CONV_TRANSPOSE: _conv_transpose_check,
    Op.MAX_POOL: _pool_check,
    Op.AVERAGE_POOL: _pool_check,
    Op.RESIZE: _resize_check,
    Op.PAD: _pad_check,
    Op.SLICE: _constant_inputs(1, 2, 3, 4),
    Op.SPLIT: _split_check,
    Op.REDUCE_MEAN: _constant_inputs(1),
    Op.REDUCE_MAX: _constant_inputs(1),
    Op.REDUCE_SUM: _constant_inputs(1),
    Op.CLIP: _constant_inputs(1, 2),
    Op.BATCH_NORMALIZATION: _constant_inputs(1, 2, 3, 4),
    Op.LSTM: recurrent_check,
    Op.GRU: recurrent_check,
    Op.RNN: recurrent_check,
}

# (op, precision) the lowering converts but refuses, with why. An LSTM TFLite's fused
# UNIDIRECTIONAL_SEQUENCE_LSTM computes (``lowering_recurrent.fusable``) runs on its integer kernel
# (int8 weights and activations, 16-bit cell state, the converter's own calibration of the gates);
# an unrolled one would make every gate and cell state an int8 tensor of its own, and on the
# quantization engine's ranges the outputs land at cosine 0.95-0.98 on random inputs.
PRECISION_LIMITS: dict[tuple[Op, str], str] = {
    (Op.LSTM, "int8"): (
        "an LSTM whose final cell state is an output, or whose initial states are computed (a "
        "streaming model's), stays unrolled, and its int8 gates and cell states lose too much "
        "accuracy; build it at fp32, fp16 or int8-dynamic (int8 weights, float activations) where the "
        "target offers them"
    ),
}


def precision_problems(graph: Graph, precision: str) -> list[Unsupported]:
    """The nodes the lowering refuses at ``precision`` (``PRECISION_LIMITS``)."""
    outputs = frozenset(v.name for v in graph.outputs)
    return [
        Unsupported(node.name, node.op.value, PRECISION_LIMITS[node.op, precision])
        for node in graph.nodes
        if (node.op, precision) in PRECISION_LIMITS and not fusable(node, outputs, integer=True)
    ]


def fused_recurrent(graph: Graph) -> bool:
    """Whether an integer build of ``graph`` has a fused LSTM, which the converter calibrates."""
    outputs = frozenset(v.name for v in graph.outputs)
    return any(fusable(node, outputs, integer=True) for node in graph.nodes)


def lowering_problems(graph: Graph) -> list[Unsupported]:
    problems = []
    for node in graph.nodes:
        if node.op not in LOWERING:
            reason = f"the TFLite backend has no lowering for {node.op}"
        else:
            check = LOWERING_CHECKS.get(node.op)
            reason = check(node) if check is not None else None
        if reason is not None:
            problems.append(Unsupported(node.name, node.op.value, reason))
    return problems


# -- Edge TPU (checked on the IR, in graph order) ------------------------------------------

# IR ops whose TFLite lowering the Edge TPU compiler maps (coral.ai/docs/edgetpu/models-intro op
# table; REFERENCE C4 quotes its limits). Activations lower to RELU/RELU6/LOGISTIC/TANH/HARD_SWISH,
# MINIMUM/MAXIMUM, ADD and MUL (HardSigmoid: RELU6 and a MUL), which are all in that table; for this
# runtime the lowering keeps the native ops (no XNNPACK forms, so Resize stays RESIZE_*).
# LayerNormalization and LSTM (MEAN/RSQRT, unrolled gates) are left out.
EDGETPU_OPS = frozenset(
    {
        Op.CONV,
        Op.CONV_TRANSPOSE,
        Op.MAX_POOL,
        Op.AVERAGE_POOL,
        Op.GLOBAL_AVERAGE_POOL,
        Op.GLOBAL_MAX_POOL,
        Op.GEMM,
        Op.ADD,
        Op.SUB,
        Op.MUL,
        Op.MAX,
        Op.MIN,
        Op.CONCAT,
        Op.RESHAPE,
        Op.FLATTEN,
        Op.SQUEEZE,
        Op.UNSQUEEZE,
        Op.SOFTMAX,
        Op.SIGMOID,
        Op.TANH,
        Op.RELU,
        Op.CLIP,
        Op.HARD_SWISH,
        Op.HARD_SIGMOID,
        Op.SILU,
        Op.PAD,
        Op.RESIZE,
        Op.SLICE,
        Op.SPLIT,
        Op.TRANSPOSE,
        Op.IDENTITY,
        Op.REDUCE_MEAN,
        Op.REDUCE_MAX,
        Op.REDUCE_SUM,
        Op.PRELU,
    }
)


def _edgetpu_node_reason(node: Node, hardware: Mapping[str, Any]) -> str | None:
    if node.op not in EDGETPU_OPS:
        return f"the Edge TPU compiler does not map {node.op}"
    if node.op is Op.MATMUL or (node.op is Op.GEMM and not node.inputs[1].is_constant):  # type: ignore[union-attr]
        return "the Edge TPU maps only fully-connected layers with constant weights"
    if node.op in (Op.REDUCE_MEAN, Op.PAD) and not _spatial_only(node):
        return f"{node.op} on the Edge TPU works only along the spatial (x/y) dims"
    limit = hardware.get("max_varying_dims", 3)
    for value in [*node.inputs, *node.outputs]:
        if value is None or value.is_constant:
            continue
        shape = stored_shape(value)
        if sum(1 for d in shape[: max(len(shape) - limit, 0)] if d != 1) > 0:
            return (
                f"tensor '{value.name}' (stored shape {list(shape)}) varies in more than the innermost "
                f"{limit} dims, which the Edge TPU cannot do"
            )
    return None


def _spatial_only(node: Node) -> bool:
    source = node.inputs[0]
    if source is None or len(source.shape or ()) != 4:
        return False
    if node.op is Op.PAD:
        pads = node.const_input(1)
        return pads is not None and not any(int(pads[a]) or int(pads[a + 4]) for a in (0, 1))
    axes = node.const_input(1)
    return axes is not None and {int(a) % 4 for a in axes.ravel()} <= {2, 3}


def edgetpu_partition_end(graph: Graph, hardware: Mapping[str, Any]) -> Unsupported | None:
    """The first node (graph order) the Edge TPU cannot run, where its partition would end."""
    nodes = graph.nodes
    for position, node in enumerate(nodes):
        reason = _edgetpu_node_reason(node, hardware)
        if reason is not None:
            rest = len(nodes) - position - 1
            return Unsupported(
                node.name,
                node.op.value,
                f"{reason}; the Edge TPU partition would end here and this node and the {rest} after it "
                f"would run on the host CPU",
            )
    return None


# -- GPU delegate (checked on the converted model's TFLite ops) -----------------------------

# TFLite op -> highest version the delegate accepts. The documented list (REFERENCE C2, gpu.md)
# says version 1 except DEPTHWISE_CONV_2D (2) and RESIZE_BILINEAR (3); the parser covers more ops
# (model_builder.cc) with caps edgec does not know (None: version not checked, unverified).
GPU_DELEGATE_OPS: dict[str, int | None] = {
    **{
        name: 1
        for name in (
            "ADD",
            "AVERAGE_POOL_2D",
            "CONCATENATION",
            "CONV_2D",
            "EXP",
            "FULLY_CONNECTED",
            "LOGICAL_AND",
            "LOGISTIC",
            "MAX_POOL_2D",
            "MAXIMUM",
            "MINIMUM",
            "MUL",
            "PAD",
            "PRELU",
            "RELU",
            "RELU6",
            "RESHAPE",
            "SOFTMAX",
            "STRIDED_SLICE",
            "SUB",
            "TRANSPOSE_CONV",
        )
    },
    "DEPTHWISE_CONV_2D": 2,
    "RESIZE_BILINEAR": 3,
    "LSTM": 2,
    **{
        name: None
        for name in (
            "ABS",
            "ADD_N",
            "BATCH_MATMUL",
            "CAST",
            "COS",
            "CUMSUM",
            "DEPTH_TO_SPACE",
            "DEQUANTIZE",
            "DIV",
            "ELU",
            "EQUAL",
            "FLOOR",
            "FLOOR_DIV",
            "FLOOR_MOD",
            "GATHER",
            "GELU",
            "GREATER",
            "GREATER_EQUAL",
            "HARD_SWISH",
            "LEAKY_RELU",
            "LESS",
            "LESS_EQUAL",
            "LOG",
            "MEAN",
            "MIRROR_PAD",
            "NEG",
            "NOT_EQUAL",
            "ONE_HOT",
            "PACK",
            "PADV2",
            "POW",
            "QUANTIZE",
            "REDUCE_MAX",
            "REDUCE_MIN",
            "REDUCE_PROD",
            "RELU_0_TO_1",
            "RELU_N1_TO_1",
            "RESIZE_NEAREST_NEIGHBOR",
            "RSQRT",
            "SELECT",
            "SELECT_V2",
            "SIGN",
            "SIN",
            "SLICE",
            "SPACE_TO_DEPTH",
            "SPLIT",
            "SPLIT_V",
            "SQRT",
            "SQUARE",
            "SQUARED_DIFFERENCE",
            "SUM",
            "TANH",
            "TILE",
            "TRANSPOSE",
            "UNPACK",
        )
    },
}


def gpu_fallbacks(ops: Sequence[tuple[str, int]]) -> list[str]:
    """Each (op, version) of the model the GPU delegate would leave to the CPU, with why."""
    found = []
    for name, version in sorted(set(ops)):
        if name not in GPU_DELEGATE_OPS:
            found.append(f"{name} (not in the GPU delegate's op list)")
            continue
        cap = GPU_DELEGATE_OPS[name]
        if cap is not None and version > cap:
            found.append(f"{name} v{version} (the delegate documents versions up to {cap})")
    return found


# -- TFLite Micro (the op resolver) --------------------------------------------------------

# TFLite ops TFLite Micro has kernels for (tflite-micro micro_mutable_op_resolver.h), with the
# resolver method names that do not follow the CamelCase rule.
MICRO_OPS = frozenset(
    [
        "ABS",
        "ADD",
        "ADD_N",
        "ARG_MAX",
        "ARG_MIN",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "BATCH_TO_SPACE_ND",
        "BROADCAST_TO",
        "CAST",
        "CEIL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "CUMSUM",
        "DEPTH_TO_SPACE",
        "DEPTHWISE_CONV_2D",
        "DEQUANTIZE",
        "DIV",
        "ELU",
        "EQUAL",
        "EXP",
        "EXPAND_DIMS",
        "FILL",
        "FLOOR",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "FULLY_CONNECTED",
        "GATHER",
        "GATHER_ND",
        "GREATER",
        "GREATER_EQUAL",
        "HARD_SWISH",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LEAKY_RELU",
        "LESS",
        "LESS_EQUAL",
        "LOG",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "LOGICAL_OR",
        "LOGISTIC",
        "LOG_SOFTMAX",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "NOT_EQUAL",
        "PACK",
        "PAD",
        "PADV2",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "ROUND",
        "RSQRT",
        "SELECT_V2",
        "SHAPE",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_BATCH_ND",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        # TFLite Micro's kernels/unidirectional_sequence_lstm.cc: float, and int8 with a 16-bit
        # cell state (the integer LSTM).
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNPACK",
    ]
)
_MICRO_METHOD_EXCEPTIONS = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
    "SPLIT_V": "AddSplitV",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def micro_method(op: str) -> str:
    """The MicroMutableOpResolver method that registers TFLite op ``op`` (CONV_2D -> AddConv2D)."""
    parts = (part if part[:1].isdigit() else part.capitalize() for part in op.split("_"))
    return _MICRO_METHOD_EXCEPTIONS.get(op, "Add" + "".join(parts))


def micro_missing(ops: Sequence[str]) -> list[str]:
    return sorted({op for op in ops if op not in MICRO_OPS})
