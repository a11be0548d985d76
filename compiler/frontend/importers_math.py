"""Importers for elementwise math, activations, Clip, Softmax and reductions.

ONNX Max and Min are variadic; the IR keeps them binary (ELEMENTWISE_BINARY),
so n inputs become a left-to-right chain of n-1 binary nodes and one input
becomes an Identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgec.frontend.importers_base import ImportFn, NodeImport, Table, normalize_axis, simple
from edgec.ir.ops import Op


def _bounds(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """ONNX Clip's defaults: the dtype's lowest and highest values (bool: False and True)."""
    if dtype == np.bool_:
        return np.array(False), np.array(True)
    info = np.finfo(dtype) if np.issubdtype(dtype, np.floating) else np.iinfo(dtype)
    return np.array(info.min, dtype), np.array(info.max, dtype)


def clip_v6(ctx: NodeImport) -> None:
    """min/max attributes -> constant inputs."""
    x = ctx.value(0)
    low, high = _bounds(x.dtype)
    low = np.array(ctx.attr("min", low), x.dtype)
    high = np.array(ctx.attr("max", high), x.dtype)
    ctx.emit(Op.CLIP, [x, ctx.const("min", low), ctx.const("max", high)])


def clip_v11(ctx: NodeImport) -> None:
    """Optional min/max inputs -> always three inputs."""
    x, low, high = ctx.value(0), ctx.input(1), ctx.input(2)
    default_low, default_high = _bounds(x.dtype)
    low = low if low is not None else ctx.const("min", default_low)
    high = high if high is not None else ctx.const("max", default_high)
    ctx.emit(Op.CLIP, [x, low, high])


def variadic(op: Op) -> ImportFn:
    def run(ctx: NodeImport) -> None:
        values = [v for v in ctx.inputs if v is not None]
        if len(values) == 1:
            ctx.emit(Op.IDENTITY, values)
            return
        acc = values[0]
        for value in values[1:-1]:
            acc = ctx.emit_temp(op, [acc, value])
        ctx.emit(op, [acc, values[-1]])

    return run


def softmax_v1(ctx: NodeImport) -> None:
    """Before opset 13 Softmax coerces its input to 2-D at ``axis``: Reshape -> Softmax -> Reshape."""
    shape = ctx.shape(0)
    axis = normalize_axis(ctx.attr("axis", 1), len(shape))
    if axis == len(shape) - 1:
        ctx.emit(Op.SOFTMAX, ctx.inputs, {"axis": axis})
        return
    rows, cols = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))
    flat = ctx.emit_temp(Op.RESHAPE, [ctx.input(0), ctx.const("shape_2d", np.array([rows, cols], np.int64))])
    soft = ctx.emit_temp(Op.SOFTMAX, [flat], {"axis": 1})
    ctx.emit(Op.RESHAPE, [soft, ctx.const("shape", np.array(shape, np.int64))])


def _axes_input(ctx: NodeImport, axes: Sequence[int] | None) -> np.ndarray:
    return np.array(axes if axes is not None else range(ctx.rank(0)), np.int64)


def reduce_attr_axes(op: Op) -> ImportFn:
    """``axes`` attribute (absent: every axis) -> constant axes input."""

    def run(ctx: NodeImport) -> None:
        attrs = dict(ctx.attrs)
        axes = ctx.const("axes", _axes_input(ctx, attrs.pop("axes", None)))
        ctx.emit(op, [ctx.input(0), axes], attrs)

    return run


def reduce_input_axes(op: Op) -> ImportFn:
    """Optional axes input; absent (and noop_with_empty_axes=0) means every axis, made explicit."""

    def run(ctx: NodeImport) -> None:
        axes = ctx.input(1)
        if axes is None and not ctx.attr("noop_with_empty_axes", 0):
            axes = ctx.const("axes", _axes_input(ctx, None))
        ctx.emit(op, [ctx.input(0), axes], ctx.attrs)

    return run


_SIMPLE = {
    "Abs": Op.ABS,
    "Add": Op.ADD,
    "Div": Op.DIV,
    "Elu": Op.ELU,
    "Equal": Op.EQUAL,
    "Erf": Op.ERF,
    "Exp": Op.EXP,
    "HardSigmoid": Op.HARD_SIGMOID,
    "LeakyRelu": Op.LEAKY_RELU,
    "Log": Op.LOG,
    "Mul": Op.MUL,
    "Neg": Op.NEG,
    "Pow": Op.POW,
    "PRelu": Op.PRELU,
    "Reciprocal": Op.RECIPROCAL,
    "Relu": Op.RELU,
    "Sigmoid": Op.SIGMOID,
    "Sqrt": Op.SQRT,
    "Sub": Op.SUB,
    "Tanh": Op.TANH,
    "Where": Op.WHERE,
}

TABLE: Table = {
    **{name: {7: simple(op)} for name, op in _SIMPLE.items()},
    "Gelu": {20: simple(Op.GELU)},
    "HardSwish": {14: simple(Op.HARD_SWISH)},
    "Max": {7: variadic(Op.MAX)},
    "Min": {7: variadic(Op.MIN)},
    "Clip": {7: clip_v6, 11: clip_v11},
    "Softmax": {7: softmax_v1, 13: simple(Op.SOFTMAX)},
    "ReduceMax": {7: reduce_attr_axes(Op.REDUCE_MAX), 18: reduce_input_axes(Op.REDUCE_MAX)},
    "ReduceMean": {7: reduce_attr_axes(Op.REDUCE_MEAN), 18: reduce_input_axes(Op.REDUCE_MEAN)},
    "ReduceSum": {7: reduce_attr_axes(Op.REDUCE_SUM), 13: reduce_input_axes(Op.REDUCE_SUM)},
}
