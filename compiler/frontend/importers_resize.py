"""Upsample and the Resize forms of opsets 10, 11, 13, 18 and 19 -> one Resize form.

Canonical Resize: inputs (X, roi, scales, sizes) where roi is present only for
tf_crop_and_resize and exactly one of scales (float32) and sizes (int64) is
present, covering every axis (opset 18's ``axes`` attribute is expanded);
every opset-21 attribute is filled in.

Upsample and Resize-10 use asymmetric coordinates. For nearest sampling ONNX
Runtime (the reference executor) rounds down when an axis grows and up when
it shrinks, so nearest_mode is floor or ceil; a mix of growing and shrinking
axes has no single canonical nearest_mode and is rejected.
"""

from __future__ import annotations

import numpy as np

from edgec.frontend.importers_base import NodeImport, Table
from edgec.ir.graph import Value
from edgec.ir.ops import Op


def _legacy_nearest_mode(ctx: NodeImport) -> str:
    scales = ctx.require_const(1, "scales")
    resized = scales[scales != 1.0]
    if np.all(resized > 1.0):
        return "floor"
    if np.all(resized < 1.0):
        return "ceil"
    raise ctx.unsupported("enlarges some axes and shrinks others with nearest sampling")


def _legacy(ctx: NodeImport, scales: Value, upsample: bool) -> None:
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.unsupported(f"uses mode '{mode}'")
    attrs = {"mode": mode, "coordinate_transformation_mode": "asymmetric"}
    if mode == "nearest":
        attrs["nearest_mode"] = "floor" if upsample else _legacy_nearest_mode(ctx)
    ctx.emit(Op.RESIZE, [ctx.value(0), None, scales, None], attrs)


def upsample_v7(ctx: NodeImport) -> None:
    _legacy(ctx, ctx.const("scales", np.array(ctx.attr("scales"), np.float32)), upsample=True)


def upsample_v9(ctx: NodeImport) -> None:
    _legacy(ctx, ctx.value(1), upsample=True)


def resize_v10(ctx: NodeImport) -> None:
    _legacy(ctx, ctx.value(1), upsample=False)


def _present(value: Value | None) -> Value | None:
    """Resize-11 passes an empty tensor for an unused scales input."""
    if value is None or (value.shape is not None and 0 in value.shape):
        return None
    return value


def _expand(ctx: NodeImport, index: int, axes: list[int], fill: np.ndarray, name: str) -> Value:
    """Scales or sizes for the listed ``axes`` -> the same for every axis."""
    given = ctx.require_const(index, name)
    full = fill.copy()
    for axis, value in zip(axes, given, strict=True):
        full[axis] = value
    return ctx.const(name, full)


def resize_v11(ctx: NodeImport) -> None:
    attrs = dict(ctx.attrs)
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "tf_half_pixel_for_nn":
        raise ctx.unsupported("uses coordinate_transformation_mode 'tf_half_pixel_for_nn'")
    roi = ctx.input(1) if mode == "tf_crop_and_resize" else None
    scales, sizes = _present(ctx.input(2)), _present(ctx.input(3))
    axes = attrs.pop("axes", None)
    if axes is not None:
        if roi is not None or attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise ctx.unsupported("combines 'axes' with tf_crop_and_resize or keep_aspect_ratio_policy")
        shape = ctx.shape(0)
        axes = [a + len(shape) if a < 0 else a for a in axes]
        if scales is not None:
            scales = _expand(ctx, 2, axes, np.ones(len(shape), np.float32), "scales")
        else:
            sizes = _expand(ctx, 3, axes, np.array(shape, np.int64), "sizes")
    ctx.emit(Op.RESIZE, [ctx.value(0), roi, scales, sizes], attrs)


TABLE: Table = {
    "Upsample": {7: upsample_v7, 9: upsample_v9},
    "Resize": {10: resize_v10, 11: resize_v11},
}
