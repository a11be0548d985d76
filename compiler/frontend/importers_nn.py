"""Importers for convolutions, pooling, normalization, Gemm/MatMul and recurrent layers (LSTM, GRU, RNN).

Windowed ops always carry kernel_shape, strides, pads, dilations (and
auto_pad NOTSET): ``auto_pad`` SAME_UPPER/SAME_LOWER/VALID is resolved into
explicit pads from the input's static shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgec.errors import ModelError, ShapeError
from edgec.frontend.importers_base import ImportFn, NodeImport, Table, first_output, simple
from edgec.ir.ops import Op


def _same_pads(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], mode: str
) -> list[int]:
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else large)
        ends.append(large if mode == "SAME_UPPER" else small)
    return begins + ends


def _window(ctx: NodeImport, kernel: Sequence[int]) -> dict[str, Any]:
    """kernel_shape, strides, pads and dilations, with auto_pad resolved into pads."""
    n = len(kernel)
    attrs = dict(ctx.attrs)
    attrs["kernel_shape"] = list(kernel)
    attrs.setdefault("strides", [1] * n)
    attrs.setdefault("dilations", [1] * n)
    attrs.setdefault("pads", [0] * 2 * n)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        spatial = ctx.shape(0)[2:]
        attrs["pads"] = _same_pads(spatial, kernel, attrs["strides"], attrs["dilations"], auto_pad)
    elif auto_pad == "VALID":
        attrs["pads"] = [0] * 2 * n
    attrs["auto_pad"] = "NOTSET"
    _check_window(ctx, attrs)
    return attrs


def _check_window(ctx: NodeImport, attrs: dict[str, Any]) -> None:
    """One kernel size, stride and dilation (all positive) and two pads (>= 0) per spatial dim."""
    spatial = ctx.rank(0) - 2
    sizes = {"kernel_shape": spatial, "strides": spatial, "dilations": spatial, "pads": 2 * spatial}
    for key, count in sizes.items():
        values = list(attrs[key])
        low = 0 if key == "pads" else 1
        if len(values) != count or any(int(v) < low for v in values):
            raise ModelError(
                f"{ctx.state.file}: node '{ctx.label}' ({ctx.proto.op_type}) has {key} {values}; its "
                f"{spatial}-D input needs {count} value(s), each at least {low}. The model is invalid."
            )


def conv(ctx: NodeImport) -> None:
    kernel = ctx.attr("kernel_shape") or list(ctx.shape(1)[2:])
    ctx.emit(Op.CONV, ctx.inputs, _window(ctx, kernel))


def _transpose_pads(ctx: NodeImport, attrs: dict[str, Any], target: Sequence[int], upper: bool) -> None:
    """Pads (and output_padding) that give the spatial output sizes ``target``.

    As the ONNX spec and ONNX Runtime do, an odd unit of padding goes at the
    start, or at the end for SAME_UPPER.
    """
    begins, ends = [], []
    for i, size in enumerate(ctx.shape(0)[2:]):
        k, s, d = attrs["kernel_shape"][i], attrs["strides"][i], attrs["dilations"][i]
        total = (size - 1) * s + attrs["output_padding"][i] + (k - 1) * d + 1 - target[i]
        if total < 0:
            attrs["output_padding"][i] -= total
            total = 0
        small, large = total // 2, total - total // 2
        begins.append(small if upper else large)
        ends.append(large if upper else small)
    attrs["pads"] = begins + ends


def conv_transpose(ctx: NodeImport) -> None:
    """output_shape and auto_pad (which pad the output, not the input) become pads and output_padding."""
    kernel = ctx.attr("kernel_shape") or list(ctx.shape(1)[2:])
    n = len(kernel)
    attrs = dict(ctx.attrs)
    auto_pad = attrs.pop("auto_pad", "NOTSET")
    output_shape = attrs.pop("output_shape", None)
    attrs.update(kernel_shape=list(kernel), auto_pad="NOTSET")
    attrs.setdefault("strides", [1] * n)
    attrs.setdefault("dilations", [1] * n)
    attrs["pads"] = [0] * 2 * n if auto_pad == "VALID" else attrs.get("pads", [0] * 2 * n)
    attrs["output_padding"] = list(attrs.get("output_padding", [0] * n))
    if output_shape is not None:
        _transpose_pads(ctx, attrs, output_shape[-n:], auto_pad == "SAME_UPPER")
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = [size * s for size, s in zip(ctx.shape(0)[2:], attrs["strides"], strict=True)]
        _transpose_pads(ctx, attrs, target, auto_pad == "SAME_UPPER")
    _check_window(ctx, attrs)
    ctx.emit(Op.CONV_TRANSPOSE, ctx.inputs, attrs)


def pool(op: Op) -> ImportFn:
    """MaxPool/AveragePool: the Indices output of MaxPool must be unused."""

    def run(ctx: NodeImport) -> None:
        ctx.only_first_output()
        ctx.emit(op, ctx.inputs, _window(ctx, ctx.attr("kernel_shape")), outputs=1)

    return run


def batch_norm(ctx: NodeImport) -> None:
    """Inference form only: opset 7's ``spatial`` must be 1, training outputs unused."""
    attrs = dict(ctx.attrs)
    if attrs.pop("spatial", 1) != 1:
        raise ctx.unsupported("uses spatial=0 (per-activation statistics)")
    if attrs.get("training_mode", 0):
        raise ctx.unsupported("runs in training mode")
    ctx.only_first_output()
    _check_channel_params(ctx, ("scale", "B", "input_mean", "input_var"))
    ctx.emit(Op.BATCH_NORMALIZATION, ctx.inputs[:5], attrs, outputs=1)


def _check_channel_params(ctx: NodeImport, names: Sequence[str]) -> None:
    """Inputs 1.. hold one value per channel (dim 1 of input 0); anything else is an invalid model."""
    data = ctx.shape(0)
    if len(data) < 2:
        return
    for index, name in enumerate(names, start=1):
        shape = ctx.shape(index)
        if shape != (data[1],):
            raise ShapeError(
                f"{ctx.state.file}: node '{ctx.label}' ({ctx.proto.op_type}): {name} has shape "
                f"{list(shape)}, but the input has {data[1]} channels (shape {list(data)}); "
                "the model is inconsistent."
            )


# ONNX's default activations per direction of each recurrent layer.
DEFAULT_ACTIVATIONS = {Op.LSTM: ["Sigmoid", "Tanh", "Tanh"], Op.GRU: ["Sigmoid", "Tanh"], Op.RNN: ["Tanh"]}


def recurrent(op: Op) -> ImportFn:
    """LSTM, GRU, RNN: hidden_size and the per-direction default activations are made explicit."""

    def run(ctx: NodeImport) -> None:
        attrs = dict(ctx.attrs)
        directions = 2 if attrs.get("direction", "forward") == "bidirectional" else 1
        attrs.setdefault("activations", DEFAULT_ACTIVATIONS[op] * directions)
        attrs.setdefault("hidden_size", ctx.shape(2)[-1])
        ctx.emit(op, ctx.inputs, attrs)

    return run


TABLE: Table = {
    "AveragePool": {7: pool(Op.AVERAGE_POOL)},
    "BatchNormalization": {7: batch_norm},
    "Conv": {7: conv},
    "ConvTranspose": {7: conv_transpose},
    "Gemm": {7: simple(Op.GEMM)},
    "GlobalAveragePool": {7: simple(Op.GLOBAL_AVERAGE_POOL)},
    "GlobalMaxPool": {7: simple(Op.GLOBAL_MAX_POOL)},
    "LayerNormalization": {17: first_output(Op.LAYER_NORMALIZATION)},
    "GRU": {7: recurrent(Op.GRU)},
    "LSTM": {7: recurrent(Op.LSTM)},
    "RNN": {7: recurrent(Op.RNN)},
    "MatMul": {7: simple(Op.MATMUL)},
    "MaxPool": {7: pool(Op.MAX_POOL)},
}
