"""The layout pass: which values go NHWC, where conversions appear, and that transposes cancel.

The pass keeps ONNX semantics (layouts only say how a backend stores a tensor), so the
before/after check runs the graph under ONNX Runtime; the stored-order arithmetic is checked
against NumPy here and end to end by the TFLite tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, ops, run_and_compare

from edgec.errors import UsageError
from edgec.ir import Layout, Op
from edgec.passes import make_spec, run_passes
from edgec.passes.layout import in_logical_order, stored_shape, stored_transpose

NHWC, NCHW, NONE = Layout.NHWC, Layout.NCHW, Layout.NONE


def _cnn() -> Builder:
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    y = b.conv(x, 4, activation=Op.RELU, activation_attrs={})
    z = b.node(Op.ADD, [y, b.weight("bias4", 4, 1, 1)])
    p = b.node(Op.GLOBAL_AVERAGE_POOL, [z], (1, 4, 1, 1))
    f = b.node(Op.FLATTEN, [p], (1, 4), axis=1)
    b.output(b.gemm(f, 3))
    return b


def test_cnn_goes_nhwc_without_conversions():
    b = _cnn()
    records = run_and_compare(b.graph, "layout")
    graph = b.graph
    assert records[0].rewrites > 0
    assert "Identity" not in ops(graph)
    assert graph.inputs[0].layout is NHWC
    assert all(n.output.layout is NHWC for n in graph.nodes if len(n.output.shape) == 4)
    assert stored_shape(graph.inputs[0]) == (1, 8, 8, 3)


def test_io_layout_nchw_converts_once_after_the_input():
    b = _cnn()
    run_passes(b.graph, [make_spec("layout", {"io_layout": "nchw"})])
    assert b.graph.inputs[0].layout is NCHW
    conversions = b.graph.nodes_of(Op.IDENTITY)
    assert len(conversions) == 1
    assert (conversions[0].inputs[0].layout, conversions[0].output.layout) == (NCHW, NHWC)


def test_reshape_that_mixes_channels_and_pixels_gets_logical_order():
    b = Builder()
    x = b.input("x", (1, 2, 4, 4))
    y = b.conv(x, 3)
    r = b.node(Op.RESHAPE, [y, b.const("shape", np.array([1, 48], np.int64))], (1, 48), allowzero=0)
    b.output(r)
    run_and_compare(b.graph, "layout")
    (conversion,) = b.graph.nodes_of(Op.IDENTITY)
    assert (conversion.inputs[0].layout, conversion.output.layout) == (NHWC, NCHW)
    assert stored_transpose(conversion) == (0, 3, 1, 2)


def test_transpose_to_channels_last_cancels():
    b = Builder()
    x = b.input("x", (1, 8, 8, 3))  # already channels-last data
    t = b.node(Op.TRANSPOSE, [x], (1, 3, 8, 8), perm=[0, 3, 1, 2])
    b.output(b.conv(t, 4))
    run_and_compare(b.graph, "layout")
    (transpose,) = b.graph.nodes_of(Op.TRANSPOSE)
    assert b.graph.inputs[0].layout is NCHW
    assert transpose.output.layout is NHWC
    assert stored_transpose(transpose) == (0, 1, 2, 3)
    assert not b.graph.nodes_of(Op.IDENTITY)


def test_image_output_keeps_its_name_and_takes_io_layout():
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    b.output(b.conv(x, 4, name="features"))
    run_and_compare(b.graph, "layout")
    assert [v.name for v in b.graph.outputs] == ["features"]
    assert b.graph.outputs[0].layout is NHWC
    run_passes(b.graph, [make_spec("layout", {"io_layout": "nchw"})])
    assert [v.name for v in b.graph.outputs] == ["features"]
    assert b.graph.outputs[0].layout is NCHW


def test_concat_and_reduce_stay_nhwc():
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    y = b.conv(x, 4)
    c = b.node(Op.CONCAT, [y, y], (1, 8, 8, 8), axis=1)
    m = b.node(Op.REDUCE_MEAN, [c, b.const("axes", np.array([2, 3], np.int64))], (1, 8), keepdims=0)
    b.output(m)
    run_and_compare(b.graph, "layout")
    assert not b.graph.nodes_of(Op.IDENTITY)
    assert c.layout is NHWC and m.layout is NONE


def test_in_logical_order():
    assert in_logical_order((1, 5, 1, 1), NHWC)
    assert in_logical_order((1, 1, 7, 7), NHWC)
    assert not in_logical_order((1, 5, 7, 7), NHWC)
    assert in_logical_order((1, 5, 7, 7), NCHW)


def test_bad_io_layout_is_a_usage_error():
    b = _cnn()
    with pytest.raises(UsageError, match="io_layout"):
        run_passes(b.graph, [make_spec("layout", {"io_layout": "hwc"})])
