"""IR -> TF ops -> .tflite on small graphs: numerics against ONNX Runtime and native TFLite ops."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.backends.tflite.converter import Recipe, convert
from edgec.backends.tflite.delegation import xnnpack_delegation
from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.ir import Graph, Op
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def _convert(graph: Graph, io_layout: str = "nhwc", runtime: str = "xnnpack") -> tuple[bytes, dict, dict]:
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)
    run_passes(graph, [make_spec("layout", {"io_layout": io_layout})])
    data = convert(graph, Recipe("fp32", runtime=runtime), None, "test")
    return data, LiteRTRunner(data, graph)(feeds), expected


def _assert_close(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-4, err_msg=name)


def _activations() -> Graph:
    b = Builder()
    x = b.input("x", (1, 3, 12, 12))
    y = b.conv(x, 8, activation=Op.CLIP, activation_attrs={"min": 0.0, "max": 6.0})
    d = b.conv(y, 8, group=8, activation=Op.HARD_SWISH, activation_attrs={})
    s = b.conv(d, 8, kernel=1, activation=Op.SILU, activation_attrs={})
    b.output(s)
    return b.graph


_POOL = {
    "kernel_shape": [2, 2],
    "strides": [2, 2],
    "pads": [0, 0, 0, 0],
    "dilations": [1, 1],
    "ceil_mode": 0,
    "auto_pad": "NOTSET",
}


def _axis_ops() -> Graph:
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    grouped = b.conv(x, 8, group=2)
    g = b.node(Op.AVERAGE_POOL, [grouped], (1, 8, 4, 4), **_POOL, count_include_pad=0)
    up = b.node(
        Op.RESIZE,
        [g, None, b.const("scales", np.array([1, 1, 2, 2], np.float32))],
        (1, 8, 8, 8),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
        antialias=0,
        cubic_coeff_a=-0.75,
        exclude_outside=0,
        extrapolation_value=0.0,
        keep_aspect_ratio_policy="stretch",
    )
    cat = b.node(Op.CONCAT, [up, x], (1, 12, 8, 8), axis=1)
    sl = b.node(
        Op.SLICE,
        [
            cat,
            *(b.const(n, np.array(v, np.int64)) for n, v in (("s", [2, 1]), ("e", [10, 7]), ("a", [1, 3]))),
        ],
        (1, 8, 8, 6),
    )
    sm = b.node(Op.SOFTMAX, [sl], axis=1)
    pooled = b.node(Op.MAX_POOL, [sm], (1, 8, 4, 3), **_POOL, storage_order=0)
    flat = b.node(Op.RESHAPE, [pooled, b.const("shape", np.array([1, -1], np.int64))], (1, 96), allowzero=0)
    b.output(flat, sm)
    return b.graph


@pytest.fixture(scope="module")
def activations() -> tuple[bytes, dict, dict]:
    return _convert(_activations())


def test_fused_activations_and_depthwise_are_native(activations):
    data, got, expected = activations
    _assert_close(got, expected)
    assert read_model(data).op_names() == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "HARD_SWISH",
        "CONV_2D",
        "LOGISTIC",
        "MUL",
    ]


def test_axis_ops_in_nhwc_and_two_outputs_in_order():
    data, got, expected = _convert(_axis_ops())
    _assert_close(got, expected)
    names = read_model(data).op_names()
    # Nearest upsampling by 2 as XNNPACK takes it (it has no RESIZE_NEAREST_NEIGHBOR).
    assert "DEPTH_TO_SPACE" in names and "RESIZE_NEAREST_NEIGHBOR" not in names and "SOFTMAX" in names
    assert names.count("TRANSPOSE") == 1  # only before the reshape that mixes channels and pixels
    assert xnnpack_delegation(data).left_out == ()


def test_other_runtimes_keep_the_native_resize():
    data, got, expected = _convert(_axis_ops(), runtime="edgetpu")
    _assert_close(got, expected)
    assert "RESIZE_NEAREST_NEIGHBOR" in read_model(data).op_names()


def _focus() -> Graph:
    """YOLOX's stem: the four (row, column) phases of every second pixel side by side, then a conv;
    beside it a step-2 slice of an odd axis (7 columns), which has no unit-stride form."""
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    odd = b.input("odd", (1, 2, 5, 7))

    def every_second(source, start: int, axis: int):
        bounds = [np.array([v], np.int64) for v in (start, 100, axis, 2)]
        shape = list(source.shape)
        shape[axis] //= 2
        return b.node(Op.SLICE, [source, *(b.const("i", v) for v in bounds)], shape)

    rows = [every_second(x, start, 2) for start in (0, 1)]
    phases = [every_second(r, start, 3) for start in (0, 1) for r in rows]
    stem = b.node(Op.CONCAT, phases, (1, 12, 4, 4), axis=1)
    b.output(b.conv(stem, 8, activation=Op.SILU, activation_attrs={}), every_second(odd, 1, 3))
    return b.graph


def test_strided_slices_become_unit_stride_slices_xnnpack_takes():
    data, got, expected = _convert(_focus())
    _assert_close(got, expected)
    names = read_model(data).op_names()
    assert names.count("STRIDED_SLICE") == 1  # the odd axis only
    assert xnnpack_delegation(data).left_out == ("STRIDED_SLICE",)


def test_hard_sigmoid_is_relu6_and_a_rescale():
    b = Builder()
    x = b.input("x", (1, 4, 6, 6))
    gate = b.conv(x, 4, kernel=1, activation=Op.HARD_SIGMOID, activation_attrs={"alpha": 0.2, "beta": 0.5})
    alone = b.node(Op.HARD_SIGMOID, [b.node(Op.ADD, [x, gate])], alpha=1 / 6, beta=0.5)
    b.output(b.node(Op.MUL, [x, alone]))
    data, got, expected = _convert(b.graph)
    _assert_close(got, expected)
    names = read_model(data).op_names()
    assert "MINIMUM" not in names and "RELU6" not in names  # RELU6 fused into the CONV_2D and the ADD


def test_nchw_io_layout_adds_transposes_at_the_edges_only():
    data, got, expected = _convert(_activations(), io_layout="nchw")
    _assert_close(got, expected)
    names = read_model(data).op_names()
    assert names[0] == "TRANSPOSE" and names[-1] == "TRANSPOSE" and names.count("TRANSPOSE") == 2
