"""Lowering of the target-ready IR to TensorFlow ops, one small function per op.

Each function gets the lowering context and a node and returns the node's
outputs as TensorFlow tensors in the values' stored order (see
``edgec.passes.layout``): the layout pass decided every value's layout, and
these functions only read it. TensorFlow's converter then turns the traced
ops into native TFLite ops: conv + bias + ReLU/ReLU6 into one fused
CONV_2D, ``depthwise_conv2d`` into DEPTHWISE_CONV_2D, ``x * relu6(x + 3) / 6``
into HARD_SWISH, ``x * sigmoid(x)`` into LOGISTIC + MUL (TFLite has no SiLU
op), matmul with constant weights into FULLY_CONNECTED. When the runtime is
XNNPACK, ops it would not delegate take the forms of ``edgec.backends.tflite.xnnpack``.

TensorFlow is passed in (``ctx.tf``): it is imported only when a TFLite
build runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from edgec.backends.tflite import xnnpack as delegated
from edgec.backends.tflite.lowering_recurrent import RECURRENT_LOWERING
from edgec.backends.tflite.lowering_sequence import SEQUENCE_LOWERING
from edgec.plugin import (
    Node,
    Op,
    Value,
    is_noop_transpose,
    stored_axis,
    stored_perm,
    stored_shape,
    stored_transpose,
)

Tensor = Any


class Lowering:
    """Tensors of the values lowered so far, by value name.

    ``fake_quant`` maps value names to (min, max): each such value passes
    through a FakeQuant op with that range, which TFLite's converter turns
    into the tensor's quantization parameters (scale ``(max - min) / 255``);
    the nodes named in ``float_layers`` read their inputs without them. ``xnnpack``: the
    runtime is XNNPACK, so ops take forms it delegates. ``graph_outputs``: the names of the graph's
    outputs; ``fused_recurrent`` counts the recurrent layers lowered as functions the converter
    fuses (see ``edgec.backends.tflite.lowering_recurrent``); ``integer_states``: the model is
    quantized, so fused LSTMs keep their states in variable tensors (TFLite's integer LSTM);
    ``fuse_recurrent``: LSTMs may become the fused op (not at int16x8, whose 16-bit LSTM kernel
    the converter does not make of it: the op then fails to prepare).
    """

    def __init__(
        self,
        tf: Any,
        fake_quant: Mapping[str, tuple[float, float]] | None = None,
        float_layers: Collection[str] = (),
        xnnpack: bool = True,
        graph_outputs: Collection[str] = (),
        integer_states: bool = False,
        fuse_recurrent: bool = True,
    ) -> None:
        self.tf = tf
        self.fuse_recurrent = fuse_recurrent
        self.graph_outputs = frozenset(graph_outputs)
        self.integer_states = integer_states
        self.fused_recurrent = 0
        self.tensors: dict[str, Tensor] = {}
        self.fake_quant = dict(fake_quant or {})
        self.float_layers = frozenset(float_layers)
        self.xnnpack = xnnpack
        self.raw: dict[str, Tensor] = {}
        self.lowered: list[Node] = []
        self.reading_raw = False

    def fake_quantized(self, value: Value, tensor: Tensor, factor: float = 1.0) -> Tensor:
        """``tensor`` through a FakeQuant op with ``value``'s range times ``factor``, if ``value``
        has a range."""
        bounds = self.fake_quant.get(value.name)
        if bounds is None:
            return tensor
        return self.fake_quant_range(tensor, (bounds[0] * factor, bounds[1] * factor))

    def fake_quant_range(self, tensor: Tensor, bounds: tuple[float, float]) -> Tensor:
        """``tensor`` through a FakeQuant op over ``bounds`` (8 bits, the converter's int8 range)."""
        return self.tf.quantization.fake_quant_with_min_max_args(
            tensor, min=bounds[0], max=bounds[1], num_bits=8, narrow_range=False
        )

    def integer(self, node: Node) -> bool:
        """Whether ``node`` runs on int8 kernels with ranges known here: no float layer, and its
        output and computed inputs all have ranges."""
        values = [node.output, *(v for v in node.inputs if v is not None and v.data is None)]
        return node.name not in self.float_layers and all(v.name in self.fake_quant for v in values)

    def bind(self, value: Value, tensor: Tensor) -> None:
        """Record ``tensor`` as ``value``'s (through its FakeQuant op, see ``fake_quantized``)."""
        self.raw[value.name] = tensor
        self.tensors[value.name] = self.fake_quantized(value, tensor)

    def get(self, value: Value | None, like: Value | None = None) -> Tensor:
        """The tensor of ``value``; a constant is broadcast into the stored order of ``like``."""
        assert value is not None
        if value.data is None:
            return self.raw[value.name] if self.reading_raw else self.tensors[value.name]
        return self.tf.constant(laid_out(value.data, like))

    def lower(self, node: Node) -> None:
        with self.tf.name_scope(scope_name("n", len(self.lowered))):
            # A float layer reads its inputs unquantized (from before their FakeQuant ops).
            self.reading_raw = node.name in self.float_layers
            results = LOWERING[node.op](self, node)
            self.reading_raw = False
            for value, tensor in zip(node.outputs, results, strict=True):
                self.bind(value, tensor)
        self.lowered.append(node)


def scope_name(kind: str, index: int) -> str:
    """The TF name scope of the ``index``-th lowered node (``kind`` "n") or graph input ("i"):
    the converted model's tensor names start with it, which maps them back to the IR."""
    return f"{kind}{index}"


def scope_of_tensor(name: str) -> tuple[str, int] | None:
    """(kind, index) of the scope that made tensor ``name`` (its first fused op's scope)."""
    head = name.split(";", 1)[0].split("/", 1)[0]
    kind, digits = head[:1], head[1:]
    return (kind, int(digits)) if kind in ("n", "i") and digits.isdigit() else None


def laid_out(data: np.ndarray, like: Value | None) -> np.ndarray:
    """Constant ``data`` as an operand of an op whose output is ``like``, in ``like``'s stored order."""
    if like is None or data.ndim == 0:
        return data
    rank = len(like.shape or ())
    perm = stored_perm(like)
    if perm == tuple(range(rank)) or data.ndim > rank:
        return data
    expanded = data.reshape((1,) * (rank - data.ndim) + data.shape)
    return np.transpose(expanded, perm)


# -- activations ---------------------------------------------------------------------------


def activation(ctx: Lowering, x: Tensor, op: Op, attrs: dict[str, Any], bounds: tuple[Any, Any]) -> Tensor:
    """``op`` applied to ``x``; ``bounds`` are Clip's (min, max) or (None, None)."""
    tf = ctx.tf
    if op is Op.RELU:
        return tf.nn.relu(x)
    if op is Op.CLIP:
        low, high = bounds
        if low == 0.0 and high == 6.0:
            return tf.nn.relu6(x)
        if low == 0.0 and high is None:
            return tf.nn.relu(x)
        if low == -1.0 and high == 1.0:
            return tf.clip_by_value(x, -1.0, 1.0)
        low = -np.inf if low is None else low
        high = np.inf if high is None else high
        return tf.minimum(tf.maximum(x, np.float32(low)), np.float32(high))
    if op is Op.HARD_SWISH:
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)
    if op is Op.HARD_SIGMOID:
        # clip(a * x + b, 0, 1) as relu6(6a * x + 6b) / 6: RELU6 fuses into the ADD, and MINIMUM
        # (the clip's top) has no int8 kernel in XNNPACK.
        alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
        return tf.nn.relu6(x * np.float32(6 * alpha) + np.float32(6 * beta)) * (1.0 / 6.0)
    if op is Op.SILU:
        return x * tf.math.sigmoid(x)
    if op is Op.SIGMOID:
        return tf.math.sigmoid(x)
    if op is Op.TANH:
        return tf.math.tanh(x)
    if op is Op.LEAKY_RELU:
        return tf.nn.leaky_relu(x, alpha=attrs.get("alpha", 0.01))
    if op is Op.ELU:
        return tf.nn.elu(x)
    if op is Op.GELU:
        return tf.nn.gelu(x, approximate=attrs.get("approximate", "none") == "tanh")
    raise KeyError(op)


def _fused(ctx: Lowering, node: Node, y: Tensor) -> Tensor:
    act = node.attrs.get("activation")
    if act is None:
        return y
    extra = node.attrs.get("activation_attrs") or {}
    return activation(ctx, y, act, extra, (extra.get("min"), extra.get("max")))


def _unary_activation(ctx: Lowering, node: Node) -> list[Tensor]:
    x = ctx.get(node.inputs[0])
    if node.op is Op.HARD_SWISH and ctx.xnnpack and ctx.integer(node):
        return [delegated.hard_swish_in_steps(ctx, node, x)]
    bounds = (None, None)
    if node.op is Op.CLIP:
        low, high = node.const_input(1), node.const_input(2)
        bounds = (
            None if low is None else float(low),
            None if high is None else float(high),
        )
    return [activation(ctx, x, node.op, node.attrs, bounds)]


# -- convolutions, pools, dense ------------------------------------------------------------


def tf_padding(
    size: tuple[int, int], kernel: list[int], strides: list[int], dilations: list[int], pads: list[int]
) -> str | None:
    """'VALID' or 'SAME' when ONNX's explicit ``pads`` are exactly one of them, else None."""
    if not any(pads):
        return "VALID"
    for axis in range(2):
        out = -(-size[axis] // strides[axis])
        span = (kernel[axis] - 1) * dilations[axis] + 1
        total = max((out - 1) * strides[axis] + span - size[axis], 0)
        if (pads[axis], pads[axis + 2]) != (total // 2, total - total // 2):
            return None
    return "SAME"


def _spatial_padding(ctx: Lowering, node: Node, x: Tensor) -> tuple[Tensor, str]:
    """``x`` and the TF padding mode; explicit pads that are not SAME become a PAD op."""
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    attrs = node.attrs
    kernel = list(attrs["kernel_shape"])
    strides, pads = list(attrs.get("strides", [1, 1])), list(attrs.get("pads", [0] * 4))
    mode = tf_padding(source.shape[2:4], kernel, strides, list(attrs.get("dilations", [1, 1])), pads)
    if mode is not None:
        return x, mode
    paddings = [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]]
    fill = -np.inf if node.op is Op.MAX_POOL else 0.0
    return ctx.tf.pad(x, paddings, constant_values=np.float32(fill)), "VALID"


def _conv(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    x, padding = _spatial_padding(ctx, node, ctx.get(node.inputs[0]))
    weight, bias = _folded_hard_sigmoid(node)
    group, c_in = node.attrs["group"], weight.shape[1] * node.attrs["group"]
    strides = [1, *node.attrs["strides"], 1]
    dilations = [1, *node.attrs["dilations"], 1]
    if group == 1:
        y = tf.nn.conv2d(x, weight.transpose(2, 3, 1, 0), strides, padding, dilations=dilations)
    elif group == c_in:
        filt = weight.reshape(c_in, -1, *weight.shape[2:]).transpose(2, 3, 0, 1)
        y = tf.nn.depthwise_conv2d(x, filt, strides, padding, dilations=dilations[1:3])
    else:
        parts = tf.split(x, group, axis=3)
        kernels = np.split(weight, group, axis=0)
        y = tf.concat(
            [
                tf.nn.conv2d(p, k.transpose(2, 3, 1, 0), strides, padding, dilations=dilations)
                for p, k in zip(parts, kernels, strict=True)
            ],
            axis=3,
        )
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    if node.attrs.get("activation") is Op.HARD_SIGMOID:
        # y is six times the HardSigmoid's input: relu6(y) (fused into the convolution) has six times
        # the output's range, and the MUL by 1/6 rescales exactly.
        return [ctx.fake_quantized(node.output, tf.nn.relu6(y), factor=6.0) * (1.0 / 6.0)]
    return [_fused(ctx, node, y)]


def _folded_hard_sigmoid(node: Node) -> tuple[np.ndarray, np.ndarray | None]:
    """Conv weight and bias; a fused HardSigmoid's 6 * alpha and 6 * beta folded in (leaving
    clip(y, 0, 6) / 6, which is relu6(y) / 6)."""
    weight, bias = node.const_input(1), node.const_input(2)
    assert weight is not None
    if node.attrs.get("activation") is not Op.HARD_SIGMOID:
        return weight, bias
    extra = node.attrs.get("activation_attrs") or {}
    alpha = np.float32(6.0 * extra.get("alpha", 0.2))
    beta = np.float32(6.0 * extra.get("beta", 0.5))
    base = np.zeros(weight.shape[0], np.float32) if bias is None else bias
    return (weight * alpha).astype(np.float32), (base * alpha + beta).astype(np.float32)


def _conv_transpose(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    weight = node.const_input(1)
    assert weight is not None
    filt = weight.transpose(2, 3, 1, 0)
    out_shape = list(stored_shape(node.output))
    padding = "VALID" if not any(node.attrs["pads"]) else "SAME"
    strides = [1, *node.attrs["strides"], 1]
    y = tf.nn.conv2d_transpose(ctx.get(node.inputs[0]), filt, out_shape, strides, padding)
    bias = node.const_input(2)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return [_fused(ctx, node, y)]


def _pool(ctx: Lowering, node: Node) -> list[Tensor]:
    x, padding = _spatial_padding(ctx, node, ctx.get(node.inputs[0]))
    kernel, strides = list(node.attrs["kernel_shape"]), list(node.attrs["strides"])
    pool = ctx.tf.nn.max_pool2d if node.op is Op.MAX_POOL else ctx.tf.nn.avg_pool2d
    return [pool(x, kernel, strides, padding)]


def _global_pool(ctx: Lowering, node: Node) -> list[Tensor]:
    """Over every spatial axis (logical 2..rank-1) wherever the input stores it: a 4-D NHWC image's
    H and W, a 3-D [N, C, W] sequence's W."""
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    reduce = ctx.tf.reduce_max if node.op is Op.GLOBAL_MAX_POOL else ctx.tf.reduce_mean
    axes = sorted(stored_axis(source, axis) for axis in range(2, len(source.shape)))
    return [reduce(ctx.get(source), axis=axes, keepdims=True)]


def _batchnorm(ctx: Lowering, node: Node) -> list[Tensor]:
    scale, bias, mean, var = (node.const_input(i) for i in range(1, 5))
    assert scale is not None and bias is not None and mean is not None and var is not None
    factor = scale / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
    shift = bias - mean * factor
    shape = (-1, 1, 1)
    return [
        ctx.get(node.inputs[0]) * laid_out(factor.reshape(shape), node.output)
        + laid_out(shift.reshape(shape), node.output)
    ]


def _gemm(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    a = ctx.get(node.inputs[0])
    if node.attrs.get("transA"):
        a = tf.transpose(a)
    weight = node.const_input(1)
    if weight is not None:
        b = (weight.T if node.attrs.get("transB") else weight) * np.float32(node.attrs.get("alpha", 1.0))
        y = tf.matmul(a, b.astype(np.float32))
    else:
        y = tf.matmul(a, ctx.get(node.inputs[1]), transpose_b=bool(node.attrs.get("transB")))
        y = y * np.float32(node.attrs.get("alpha", 1.0))
    bias = node.const_input(2)
    if bias is not None:
        y = y + (bias * np.float32(node.attrs.get("beta", 1.0))).astype(np.float32)
    return [_fused(ctx, node, y)]


def _matmul(ctx: Lowering, node: Node) -> list[Tensor]:
    return [ctx.tf.matmul(ctx.get(node.inputs[0]), ctx.get(node.inputs[1]))]


# -- elementwise ---------------------------------------------------------------------------


def _binary(fn: Callable[[Any], Callable[[Tensor, Tensor], Tensor]]) -> Callable[[Lowering, Node], list]:
    def lower(ctx: Lowering, node: Node) -> list[Tensor]:
        operands = [ctx.get(v, like=node.output) for v in node.inputs if v is not None]
        result = operands[0]
        for other in operands[1:]:
            result = fn(ctx.tf)(result, other)
        return [result]

    return lower


def _unary(fn: Callable[[Any], Callable[[Tensor], Tensor]]) -> Callable[[Lowering, Node], list]:
    return lambda ctx, node: [fn(ctx.tf)(ctx.get(node.inputs[0]))]


def _prelu(ctx: Lowering, node: Node) -> list[Tensor]:
    x, slope = ctx.get(node.inputs[0]), ctx.get(node.inputs[1], like=node.output)
    return [ctx.tf.maximum(x, 0.0) + slope * ctx.tf.minimum(x, 0.0)]


def _where(ctx: Lowering, node: Node) -> list[Tensor]:
    cond, a, b = (ctx.get(v, like=node.output) for v in node.inputs)
    return [ctx.tf.where(cond, a, b)]


def _cast(ctx: Lowering, node: Node) -> list[Tensor]:
    return [ctx.tf.cast(ctx.get(node.inputs[0]), np.dtype(node.attrs["to"]))]


def _softmax(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None
    return [ctx.tf.nn.softmax(ctx.get(source), axis=stored_axis(source, node.attrs.get("axis", -1)))]


# -- shape and axis ops --------------------------------------------------------------------


def _reshape(ctx: Lowering, node: Node) -> list[Tensor]:
    return [ctx.tf.reshape(ctx.get(node.inputs[0]), stored_shape(node.output))]


def _expand(ctx: Lowering, node: Node) -> list[Tensor]:
    """ONNX Expand is NumPy broadcasting to the output's shape: BROADCAST_TO in the output's stored order
    (the layout pass keeps Expand in the logical order, so input and output agree)."""
    return [ctx.tf.broadcast_to(ctx.get(node.inputs[0], like=node.output), stored_shape(node.output))]


def _transpose(ctx: Lowering, node: Node) -> list[Tensor]:
    x = ctx.get(node.inputs[0])
    if is_noop_transpose(node):
        return [x]
    return [ctx.tf.transpose(x, stored_transpose(node))]


def _concat(ctx: Lowering, node: Node) -> list[Tensor]:
    parts = [ctx.get(v, like=node.output) for v in node.inputs if v is not None]
    return [ctx.tf.concat(parts, axis=stored_axis(node.output, node.attrs["axis"]))]


def _split(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None
    axis = node.attrs.get("axis", 0)
    sizes = [v.shape[axis] for v in node.outputs if v.shape is not None]
    return list(ctx.tf.split(ctx.get(source), sizes, axis=stored_axis(source, axis)))


def _slice(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    starts, ends = node.const_input(1), node.const_input(2)
    assert starts is not None and ends is not None
    rank = len(source.shape)
    axes = node.const_input(3)
    axes = list(range(len(starts))) if axes is None else [int(a) % rank for a in axes]
    steps = node.const_input(4)
    steps = [1] * len(axes) if steps is None else [int(s) for s in steps]
    x, shape = ctx.get(source), list(stored_shape(source))
    index = [slice(None)] * rank
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        lo, hi, st = slice(int(start), int(end), step).indices(source.shape[axis])
        stored = stored_axis(source, axis)
        if ctx.xnnpack and st > 1 and shape[stored] % st == 0:
            count = len(range(lo, hi, st))
            x = delegated.every_nth(ctx.tf, x, shape, stored, lo, count, st)
            shape[stored] = count
        else:
            index[stored] = slice(lo, hi if hi >= 0 else None, st)
    return [x[tuple(index)] if any(i != slice(None) for i in index) else x]


def _reduce(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None
    axes = node.const_input(1)
    rank = len(source.shape or ())
    logical = range(rank) if axes is None or axes.size == 0 else (int(a) for a in axes.ravel())
    stored = sorted(stored_axis(source, a) for a in logical)
    fn = {
        Op.REDUCE_MEAN: ctx.tf.reduce_mean,
        Op.REDUCE_MAX: ctx.tf.reduce_max,
        Op.REDUCE_SUM: ctx.tf.reduce_sum,
    }
    return [fn[node.op](ctx.get(source), axis=stored, keepdims=bool(node.attrs.get("keepdims", 1)))]


def _pad(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None
    pads = node.const_input(1)
    assert pads is not None
    rank = len(source.shape or ())
    pairs = [[int(pads[a]), int(pads[a + rank])] for a in range(rank)]
    stored = [pairs[axis] for axis in stored_perm(source)]
    mode = node.attrs.get("mode", "constant")
    if mode == "reflect":
        return [ctx.tf.pad(ctx.get(source), stored, mode="REFLECT")]
    fill = node.const_input(2)
    value = 0.0 if fill is None else float(np.asarray(fill).ravel()[0])
    return [ctx.tf.pad(ctx.get(source), stored, constant_values=np.asarray(value, dtype=source.dtype))]


def _resize(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    source = node.inputs[0]
    assert source is not None
    size = list(node.output.shape[2:4]) if node.output.shape is not None else []
    x = ctx.get(source)
    transform = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    if node.attrs.get("mode", "nearest") == "nearest":
        factor = delegated.upsample_factor(stored_shape(source), stored_shape(node.output))
        if ctx.xnnpack and factor is not None:
            return [delegated.nearest_upsample(ctx, node, x, factor)]
        return [
            tf.compat.v1.image.resize_nearest_neighbor(
                x, size, align_corners=transform == "align_corners", half_pixel_centers=False
            )
        ]
    return [
        tf.compat.v1.image.resize_bilinear(
            x,
            size,
            align_corners=transform == "align_corners",
            half_pixel_centers=transform in ("half_pixel", "pytorch_half_pixel"),
        )
    ]


def _gather(ctx: Lowering, node: Node) -> list[Tensor]:
    source = node.inputs[0]
    assert source is not None
    indices = node.const_input(1)
    index = ctx.get(node.inputs[1]) if indices is None else indices.astype(np.int32)
    return [ctx.tf.gather(ctx.get(source), index, axis=stored_axis(source, node.attrs.get("axis", 0)))]


# Abramowitz & Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x) for
# x >= 0, absolute error at most 1.5e-7 (the size of float32 rounding near 1).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(ctx: Lowering, node: Node) -> list[Tensor]:
    """TFLite has no ERF kernel (TF's Erf would need the Flex delegate): A&S 7.1.26 in builtin ops,
    which keeps BERT's exact GELU (x / 2 * (1 + erf(x / sqrt 2))) convertible."""
    tf = ctx.tf
    x = ctx.get(node.inputs[0])
    magnitude = tf.math.abs(x)
    t = 1.0 / (1.0 + _ERF_P * magnitude)
    poly = _ERF_A[-1]
    for coefficient in reversed(_ERF_A[:-1]):
        poly = poly * t + coefficient
    y = 1.0 - poly * t * tf.math.exp(-magnitude * magnitude)
    return [tf.math.sign(x) * y]


def _unary_table() -> dict[Op, Callable[[Lowering, Node], list[Tensor]]]:
    return {
        Op.ABS: _unary(lambda tf: tf.math.abs),
        Op.EXP: _unary(lambda tf: tf.math.exp),
        Op.LOG: _unary(lambda tf: tf.math.log),
        Op.NEG: _unary(lambda tf: tf.math.negative),
        Op.SQRT: _unary(lambda tf: tf.math.sqrt),
        Op.RECIPROCAL: _unary(lambda tf: tf.math.reciprocal),
        Op.ERF: _erf,
    }


LOWERING: dict[Op, Callable[[Lowering, Node], list[Tensor]]] = {
    Op.CONV: _conv,
    Op.CONV_TRANSPOSE: _conv_transpose,
    Op.MAX_POOL: _pool,
    Op.AVERAGE_POOL: _pool,
    Op.GLOBAL_AVERAGE_POOL: _global_pool,
    Op.GLOBAL_MAX_POOL: _global_pool,
    Op.BATCH_NORMALIZATION: _batchnorm,
    Op.GEMM: _gemm,
    Op.MATMUL: _matmul,
    Op.ADD: _binary(lambda tf: tf.math.add),
    Op.SUB: _binary(lambda tf: tf.math.subtract),
    Op.MUL: _binary(lambda tf: tf.math.multiply),
    Op.DIV: _binary(lambda tf: tf.math.divide),
    Op.POW: _binary(lambda tf: tf.math.pow),
    Op.MAX: _binary(lambda tf: tf.math.maximum),
    Op.MIN: _binary(lambda tf: tf.math.minimum),
    Op.EQUAL: _binary(lambda tf: tf.math.equal),
    Op.PRELU: _prelu,
    Op.WHERE: _where,
    Op.CAST: _cast,
    Op.SOFTMAX: _softmax,
    Op.RESHAPE: _reshape,
    Op.FLATTEN: _reshape,
    Op.SQUEEZE: _reshape,
    Op.UNSQUEEZE: _reshape,
    Op.EXPAND: _expand,
    Op.TRANSPOSE: _transpose,
    Op.IDENTITY: _transpose,
    Op.CONCAT: _concat,
    Op.SPLIT: _split,
    Op.SLICE: _slice,
    Op.REDUCE_MEAN: _reduce,
    Op.REDUCE_MAX: _reduce,
    Op.REDUCE_SUM: _reduce,
    Op.PAD: _pad,
    Op.RESIZE: _resize,
    Op.GATHER: _gather,
    **{op: _unary_activation for op in (Op.RELU, Op.CLIP, Op.HARD_SWISH, Op.HARD_SIGMOID, Op.SILU)},
    **{op: _unary_activation for op in (Op.SIGMOID, Op.TANH, Op.LEAKY_RELU, Op.ELU, Op.GELU)},
    **_unary_table(),
    **SEQUENCE_LOWERING,
    **RECURRENT_LOWERING,
}
