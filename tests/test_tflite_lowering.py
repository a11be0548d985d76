"""IR -> TF ops -> .tflite on small graphs: numerics against ONNX Runtime and native TFLite ops."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.backends.tflite.converter import Recipe, convert
from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.ir import Graph, Op
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def _convert(graph: Graph, io_layout: str = "nhwc") -> tuple[bytes, dict, dict]:
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)
    run_passes(graph, [make_spec("layout", {"io_layout": io_layout})])
    data = convert(graph, Recipe("fp32"), None, "test")
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
    assert "RESIZE_NEAREST_NEIGHBOR" in names and "SOFTMAX" in names
    assert names.count("TRANSPOSE") == 1  # only before the reshape that mixes channels and pixels


def test_nchw_io_layout_adds_transposes_at_the_edges_only():
    data, got, expected = _convert(_activations(), io_layout="nchw")
    _assert_close(got, expected)
    names = read_model(data).op_names()
    assert names[0] == "TRANSPOSE" and names[-1] == "TRANSPOSE" and names.count("TRANSPOSE") == 2
