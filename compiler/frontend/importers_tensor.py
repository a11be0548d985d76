"""Importers for constants, shape manipulation, indexing and type casts.

Canonical forms: axes, split sizes, Slice parameters and pads are inputs;
Squeeze, Split and Slice get them explicitly (from static shapes) when the
model leaves them out; Pad always has its constant value in constant mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import helper

from edgec.errors import ModelError
from edgec.frontend.importers_base import NodeImport, Table, simple
from edgec.ir.graph import Value
from edgec.ir.ops import Op

_CONSTANT_FORMS = {
    "value": None,
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


def constant(ctx: NodeImport) -> None:
    """A Constant node becomes a constant value; no IR node."""
    (key,) = ctx.attrs
    if key not in _CONSTANT_FORMS:
        raise ctx.unsupported(f"holds a '{key}' constant")
    data = np.asarray(ctx.attrs[key], dtype=_CONSTANT_FORMS[key])
    ctx.state.graph.constant(ctx.proto.output[0], data)


def dropout(ctx: NodeImport) -> None:
    """Inference: Dropout is Identity; its mask output must be unused."""
    training = ctx.input(2)
    if training is not None and (training.data is None or training.data.any()):
        raise ctx.unsupported("may run in training mode (its training_mode input is not a constant false)")
    ctx.only_first_output()
    ctx.emit(Op.IDENTITY, [ctx.value(0)], outputs=1)


def cast(ctx: NodeImport) -> None:
    to = ctx.attrs.get("to")
    if to not in helper.get_all_tensor_dtypes():
        raise ModelError(
            f"{ctx.state.file}: node '{ctx.label}' (Cast) casts to type {to}, which is no ONNX tensor type; "
            f"the model is corrupt."
        )
    attrs = dict(ctx.attrs, to=helper.tensor_dtype_to_np_dtype(to))
    ctx.emit(Op.CAST, ctx.inputs, attrs)


def constant_of_shape(ctx: NodeImport) -> None:
    attrs = dict(ctx.attrs)
    attrs.setdefault("value", np.zeros(1, np.float32))
    ctx.emit(Op.CONSTANT_OF_SHAPE, ctx.inputs, attrs)


def transpose(ctx: NodeImport) -> None:
    perm = ctx.attr("perm") or list(reversed(range(ctx.rank(0))))
    ctx.emit(Op.TRANSPOSE, ctx.inputs, {"perm": perm})


def _axes_from(ctx: NodeImport, attr_before: int, input_index: int) -> Value | None:
    """Axes as a value: the attribute (opsets before ``attr_before``) or the input."""
    if ctx.opset < attr_before:
        axes = ctx.attr("axes")
        return ctx.const("axes", np.array(axes, np.int64)) if axes is not None else None
    return ctx.input(input_index)


def squeeze(ctx: NodeImport) -> None:
    """Without axes every dim of size 1 goes; the axes are made explicit."""
    axes = _axes_from(ctx, 13, 1)
    if axes is None:
        ones = [i for i, d in enumerate(ctx.shape(0)) if d == 1]
        axes = ctx.const("axes", np.array(ones, np.int64))
    ctx.emit(Op.SQUEEZE, [ctx.value(0), axes])


def unsqueeze(ctx: NodeImport) -> None:
    ctx.emit(Op.UNSQUEEZE, [ctx.value(0), _axes_from(ctx, 13, 1)])


def _split_sizes(ctx: NodeImport, axis: int, count: int) -> np.ndarray:
    """Equal chunks (the last one smaller when the dim does not divide, as opset 18 says)."""
    dim = ctx.shape(0)[axis]
    chunk = -(-dim // count)
    return np.array([min(chunk, dim - i * chunk) for i in range(count)], np.int64)


def split(ctx: NodeImport) -> None:
    """``split`` attribute (< 13), input, or num_outputs / equal split -> explicit sizes input."""
    axis = ctx.attr("axis", 0)
    sizes: Value | None
    if ctx.opset < 13:
        given = ctx.attr("split")
        sizes = ctx.const("split", np.array(given, np.int64)) if given else None
    else:
        sizes = ctx.input(1)
    if sizes is None:
        sizes = ctx.const("split", _split_sizes(ctx, axis, len(ctx.proto.output)))
    ctx.emit(Op.SPLIT, [ctx.value(0), sizes], {"axis": axis})


def slice_v1(ctx: NodeImport) -> None:
    """starts/ends/axes attributes -> inputs."""
    starts = np.array(ctx.attr("starts"), np.int64)
    axes = ctx.attr("axes", list(range(len(starts))))
    params = {"starts": starts, "ends": ctx.attr("ends"), "axes": axes, "steps": np.ones_like(starts)}
    values = [ctx.const(key, np.array(v, np.int64)) for key, v in params.items()]
    ctx.emit(Op.SLICE, [ctx.value(0), *values])


def slice_v10(ctx: NodeImport) -> None:
    """Optional axes and steps inputs are made explicit."""
    starts = ctx.value(1)
    count = ctx.shape(1)[0]
    axes = ctx.input(3) or ctx.const("axes", np.arange(count, dtype=starts.dtype))
    steps = ctx.input(4) or ctx.const("steps", np.ones(count, dtype=starts.dtype))
    ctx.emit(Op.SLICE, [ctx.value(0), starts, ctx.value(2), axes, steps])


def _full_pads(pads: np.ndarray, axes: Sequence[int], rank: int) -> np.ndarray:
    full = np.zeros(2 * rank, np.int64)
    for i, axis in enumerate(axes):
        axis = axis + rank if axis < 0 else axis
        full[axis], full[axis + rank] = pads[i], pads[i + len(axes)]
    return full


def _pad(ctx: NodeImport, x: Value, pads: Value, value: Value | None, attrs: dict[str, Any]) -> None:
    mode = attrs.get("mode", "constant")
    if value is None and mode == "constant":
        value = ctx.const("constant_value", np.zeros((), x.dtype))
    ctx.emit(Op.PAD, [x, pads, value], {"mode": mode})


def pad_v2(ctx: NodeImport) -> None:
    """pads/value attributes -> inputs."""
    x = ctx.value(0)
    pads = ctx.const("pads", np.array(ctx.attr("pads"), np.int64))
    value = None
    if ctx.attr("mode", "constant") == "constant":
        value = ctx.const("constant_value", np.array(ctx.attr("value", 0.0), x.dtype))
    _pad(ctx, x, pads, value, ctx.attrs)


def pad_v11(ctx: NodeImport) -> None:
    """An axes input (opset 18) is expanded into pads for every axis."""
    pads = ctx.value(1)
    if ctx.input(3) is not None:
        axes = ctx.require_const(3, "axes")
        full = _full_pads(ctx.require_const(1, "pads"), axes.tolist(), ctx.rank(0))
        pads = ctx.const("pads", full)
    _pad(ctx, ctx.value(0), pads, ctx.input(2), ctx.attrs)


TABLE: Table = {
    "Cast": {7: cast},
    "Concat": {7: simple(Op.CONCAT)},
    "Constant": {7: constant},
    "ConstantOfShape": {9: constant_of_shape},
    "Dropout": {7: dropout},
    "Expand": {8: simple(Op.EXPAND)},
    "Flatten": {7: simple(Op.FLATTEN)},
    "Gather": {7: simple(Op.GATHER)},
    "Identity": {7: simple(Op.IDENTITY)},
    "Pad": {7: pad_v2, 11: pad_v11},
    "Range": {11: simple(Op.RANGE)},
    "Reshape": {7: simple(Op.RESHAPE)},
    "Shape": {7: simple(Op.SHAPE)},
    "Slice": {7: slice_v1, 10: slice_v10},
    "Split": {7: split},
    "Squeeze": {7: squeeze},
    "Transpose": {7: transpose},
    "Unsqueeze": {7: unsqueeze},
}
