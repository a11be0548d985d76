"""Import of convolutions, pooling, normalization, Gemm, MatMul and LSTM across opsets."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_support import check_import, only, rand
from onnx import helper

from edgec.ir import Layout, Op

WINDOW = {"kernel_shape", "strides", "pads", "dilations", "auto_pad"}


@pytest.mark.parametrize(
    ("opset", "attrs", "pads"),
    [
        (7, {}, [0, 0, 0, 0]),
        (11, {"pads": [1, 0, 2, 1], "strides": [2, 1], "dilations": [1, 2]}, [1, 0, 2, 1]),
        (11, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, [0, 0, 1, 1]),
        (13, {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, [1, 1, 0, 0]),
        (21, {"auto_pad": "VALID"}, [0, 0, 0, 0]),
    ],
)
def test_conv_window_attributes_are_explicit(tmp_path, opset, attrs, pads):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = check_import(
        tmp_path, [node], {"x": rand(1, 4, 8, 8)}, opset, {"w": rand(6, 4, 3, 3), "b": rand(6)}
    )
    conv = only(graph, Op.CONV)
    assert set(conv.attrs) == WINDOW | {"group"}
    assert conv.attrs["pads"] == pads and conv.attrs["auto_pad"] == "NOTSET"
    assert conv.attrs["kernel_shape"] == [3, 3]
    assert conv.output.layout is Layout.NCHW and conv.inputs[1].layout is Layout.NONE


def test_depthwise_conv_1d(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=4, auto_pad="SAME_UPPER")
    graph = check_import(tmp_path, [node], {"x": rand(1, 4, 10)}, 13, {"w": rand(4, 1, 4)})
    conv = only(graph, Op.CONV)
    assert conv.attrs["group"] == 4 and conv.attrs["pads"] == [1, 2]
    assert conv.output.layout is Layout.NONE


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2, 2], "pads": [1, 0, 1, 0], "output_padding": [1, 1]},
        {"strides": [2, 2], "output_shape": [10, 11]},
        {"strides": [2, 2], "output_shape": [12, 12]},
        {"strides": [2, 2], "output_shape": [9, 12], "auto_pad": "SAME_UPPER"},
        {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
        {"strides": [3, 3], "auto_pad": "SAME_LOWER"},
        {"group": 2, "dilations": [2, 1]},
    ],
)
def test_conv_transpose_output_shape_and_auto_pad_become_pads(tmp_path, attrs):
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    inits = {"w": rand(4, 2, 3, 3), "b": rand(2 * attrs.get("group", 1))}
    graph = check_import(tmp_path, [node], {"x": rand(1, 4, 5, 5)}, 13, inits)
    conv = only(graph, Op.CONV_TRANSPOSE)
    assert set(conv.attrs) == WINDOW | {"group", "output_padding"}
    assert conv.attrs["auto_pad"] == "NOTSET"


@pytest.mark.parametrize(
    ("op", "opset", "attrs"),
    [
        ("MaxPool", 7, {"kernel_shape": [3, 3], "strides": [2, 2]}),
        ("MaxPool", 8, {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER"}),
        ("MaxPool", 12, {"kernel_shape": [3, 3], "dilations": [2, 2], "ceil_mode": 1, "strides": [2, 2]}),
        ("AveragePool", 7, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
        ("AveragePool", 11, {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2]}),
        ("AveragePool", 19, {"kernel_shape": [2, 2], "dilations": [2, 2], "ceil_mode": 1}),
    ],
)
def test_pooling(tmp_path, op, opset, attrs):
    graph = check_import(
        tmp_path, [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": rand(1, 2, 9, 9)}, opset
    )
    pool = only(graph, Op.MAX_POOL if op == "MaxPool" else Op.AVERAGE_POOL)
    assert WINDOW | {"ceil_mode"} <= set(pool.attrs)
    assert pool.attrs["auto_pad"] == "NOTSET" and pool.attrs.get("count_include_pad", 0) == attrs.get(
        "count_include_pad", 0
    )


def test_maxpool_indices_output_must_be_unused(tmp_path):
    from edgec.errors import UnsupportedOpError

    node = helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], name="mp")
    with pytest.raises(UnsupportedOpError, match=r"'mp'.*output 1"):
        check_import(
            tmp_path, [node], {"x": rand(1, 2, 4, 4)}, 12, outputs={"y": np.float32, "idx": np.int64}
        )


def test_global_pools(tmp_path):
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["y"]),
        helper.make_node("GlobalMaxPool", ["x"], ["z"]),
    ]
    graph = check_import(tmp_path, nodes, {"x": rand(1, 3, 5, 6)}, 7, outputs=["y", "z"])
    assert [n.op for n in graph.nodes] == [Op.GLOBAL_AVERAGE_POOL, Op.GLOBAL_MAX_POOL]


@pytest.mark.parametrize(("opset", "attrs"), [(7, {"spatial": 1}), (9, {"epsilon": 1e-3}), (15, {})])
def test_batch_normalization(tmp_path, opset, attrs):
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs)
    inits = {"s": rand(3), "b": rand(3), "m": rand(3), "v": np.abs(rand(3)) + 0.5}
    graph = check_import(tmp_path, [node], {"x": rand(2, 3, 4, 4)}, opset, inits)
    bn = only(graph, Op.BATCH_NORMALIZATION)
    assert bn.attrs == {
        "epsilon": pytest.approx(attrs.get("epsilon", 1e-5)),
        "momentum": pytest.approx(0.9),
        "training_mode": 0,
    }


@pytest.mark.parametrize("opset", [17, 21])
def test_layer_normalization(tmp_path, opset):
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)
    graph = check_import(tmp_path, [node], {"x": rand(2, 5, 8)}, opset, {"s": rand(8), "b": rand(8)})
    assert only(graph, Op.LAYER_NORMALIZATION).attrs == {
        "axis": -1,
        "epsilon": pytest.approx(1e-5),
        "stash_type": 1,
    }


@pytest.mark.parametrize(
    ("opset", "attrs", "c_shape"),
    [
        (7, {}, (5,)),
        (9, {"transB": 1, "alpha": 0.5}, (1, 5)),
        (11, {"beta": 2.0}, None),
        (13, {"transA": 1}, (5,)),
    ],
)
def test_gemm_defaults(tmp_path, opset, attrs, c_shape):
    a_shape = (4, 3) if attrs.get("transA") else (3, 4)
    b_shape = (5, 4) if attrs.get("transB") else (4, 5)
    inits = {"b": rand(*b_shape)} | ({"c": rand(*c_shape)} if c_shape else {})
    inputs = ["a", "b", "c"] if c_shape else ["a", "b"]
    graph = check_import(
        tmp_path, [helper.make_node("Gemm", inputs, ["y"], **attrs)], {"a": rand(*a_shape)}, opset, inits
    )
    gemm = only(graph, Op.GEMM)
    assert set(gemm.attrs) == {"alpha", "beta", "transA", "transB"}
    assert gemm.attrs["alpha"] == pytest.approx(attrs.get("alpha", 1.0))


def test_matmul(tmp_path):
    graph = check_import(
        tmp_path, [helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": rand(2, 3, 4)}, 9, {"b": rand(4, 6)}
    )
    assert only(graph, Op.MATMUL).attrs == {}


@pytest.mark.parametrize(
    ("opset", "direction", "outputs"),
    [(7, "forward", ["y", "yh", "yc"]), (14, "bidirectional", ["y"]), (14, "reverse", ["", "yh"])],
)
def test_lstm(tmp_path, opset, direction, outputs):
    dirs, hidden = (2 if direction == "bidirectional" else 1), 4
    inits = {
        "w": rand(dirs, 4 * hidden, 3) * 0.5,
        "r": rand(dirs, 4 * hidden, hidden) * 0.5,
        "b": rand(dirs, 8 * hidden),
    }
    node = helper.make_node("LSTM", ["x", "w", "r", "b"], outputs, hidden_size=hidden, direction=direction)
    graph = check_import(
        tmp_path, [node], {"x": rand(5, 2, 3)}, opset, inits, outputs=[o for o in outputs if o]
    )
    lstm = only(graph, Op.LSTM)
    assert lstm.attrs["activations"] == ["Sigmoid", "Tanh", "Tanh"] * dirs
    assert lstm.attrs["hidden_size"] == hidden and lstm.attrs["layout"] == 0
