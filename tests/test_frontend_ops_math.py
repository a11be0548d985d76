"""Import of elementwise ops, activations, Clip, Softmax and reductions across opsets."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_support import check_import, const, only, rand
from onnx import helper

from edgec.ir import Op

UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "Neg", "Abs", "Exp", "Reciprocal"]
BINARY = ["Add", "Sub", "Mul", "Div"]


@pytest.mark.parametrize("opset", [9, 13, 21])
def test_unary_and_binary(tmp_path, opset):
    x, b = rand(2, 3, 4), rand(3, 1)
    nodes = [helper.make_node(op, ["x"], [f"u{i}"]) for i, op in enumerate(UNARY)]
    nodes += [helper.make_node(op, ["x", "b"], [f"b{i}"]) for i, op in enumerate(BINARY)]
    nodes += [
        helper.make_node("Abs", ["x"], ["ax"]),
        helper.make_node("Sqrt", ["ax"], ["sq"]),
        helper.make_node("Log", ["ax"], ["lg"]),
        helper.make_node("Pow", ["ax", "b"], ["pw"]),
    ]
    outputs = (
        [f"u{i}" for i in range(len(UNARY))] + [f"b{i}" for i in range(len(BINARY))] + ["sq", "lg", "pw"]
    )
    graph = check_import(tmp_path, nodes, {"x": x, "b": b}, opset, outputs=outputs)
    assert len(graph.nodes) == len(nodes)


@pytest.mark.parametrize(
    ("op", "attrs", "opset", "expected"),
    [
        ("LeakyRelu", {}, 7, {"alpha": pytest.approx(0.01)}),
        ("LeakyRelu", {"alpha": 0.2}, 16, {"alpha": pytest.approx(0.2)}),
        ("Elu", {}, 7, {"alpha": 1.0}),
        ("HardSigmoid", {}, 7, {"alpha": pytest.approx(0.2), "beta": 0.5}),
        ("HardSigmoid", {"alpha": 1 / 6}, 13, {"alpha": pytest.approx(1 / 6), "beta": 0.5}),
        ("HardSwish", {}, 14, {}),
        ("Gelu", {}, 20, {"approximate": "none"}),
        ("Gelu", {"approximate": "tanh"}, 21, {"approximate": "tanh"}),
    ],
)
def test_activation_defaults(tmp_path, op, attrs, opset, expected):
    graph = check_import(tmp_path, [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": rand(2, 5)}, opset)
    assert graph.nodes[0].attrs == expected


@pytest.mark.parametrize("opset", [7, 9, 16])
def test_prelu(tmp_path, opset):
    graph = check_import(
        tmp_path,
        [helper.make_node("PRelu", ["x", "s"], ["y"])],
        {"x": rand(1, 3, 4, 4)},
        opset,
        {"s": rand(3, 1, 1)},
    )
    assert only(graph, Op.PRELU).attrs == {}


@pytest.mark.parametrize(
    ("opset", "attrs", "inputs", "bounds"),
    [
        (7, {"min": -0.5, "max": 0.5}, ["x"], [-0.5, 0.5]),
        (7, {"max": 0.5}, ["x"], [float(np.finfo(np.float32).min), 0.5]),
        (11, {}, ["x", "lo"], [-0.25, float(np.finfo(np.float32).max)]),
        (13, {}, ["x", "", "hi"], [float(np.finfo(np.float32).min), 0.25]),
        (21, {}, ["x"], [float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)]),
    ],
)
def test_clip_always_has_three_inputs(tmp_path, opset, attrs, inputs, bounds):
    inits = {"lo": np.float32(-0.25), "hi": np.float32(0.25)}
    used = {k: v for k, v in inits.items() if k in inputs}
    graph = check_import(
        tmp_path, [helper.make_node("Clip", inputs, ["y"], **attrs)], {"x": rand(3, 4)}, opset, used
    )
    clip = only(graph, Op.CLIP)
    assert len(clip.inputs) == 3 and clip.attrs == {}
    assert [const(clip, 1), const(clip, 2)] == pytest.approx(bounds)


@pytest.mark.parametrize("opset", [8, 13])
def test_variadic_max_min_become_binary_chains(tmp_path, opset):
    nodes = [
        helper.make_node("Max", ["a", "b", "c"], ["y"]),
        helper.make_node("Min", ["a", "b"], ["z"]),
        helper.make_node("Max", ["a"], ["w"]),
    ]
    feeds = {"a": rand(2, 3), "b": rand(2, 3), "c": rand(2, 3)}
    graph = check_import(tmp_path, nodes, feeds, opset, outputs=["y", "z", "w"])
    assert [n.op for n in graph.nodes] == [Op.MAX, Op.MAX, Op.MIN, Op.IDENTITY]
    assert all(len(n.inputs) == 2 for n in graph.nodes_of(Op.MAX, Op.MIN))


@pytest.mark.parametrize(
    ("opset", "axis", "ops"),
    [
        (11, 1, [Op.RESHAPE, Op.SOFTMAX, Op.RESHAPE]),
        (11, 3, [Op.SOFTMAX]),
        (11, -1, [Op.SOFTMAX]),
        (7, 0, [Op.RESHAPE, Op.SOFTMAX, Op.RESHAPE]),
        (13, 1, [Op.SOFTMAX]),
    ],
)
def test_softmax_coercion_before_13(tmp_path, opset, axis, ops):
    graph = check_import(
        tmp_path, [helper.make_node("Softmax", ["x"], ["y"], axis=axis)], {"x": rand(2, 3, 4, 5)}, opset
    )
    assert [n.op for n in graph.nodes] == ops


def test_softmax_default_axis_before_13_is_one(tmp_path):
    graph = check_import(tmp_path, [helper.make_node("Softmax", ["x"], ["y"])], {"x": rand(2, 3, 4)}, 11)
    assert only(graph, Op.SOFTMAX).attrs == {"axis": 1}
    assert graph.nodes_of(Op.RESHAPE)


@pytest.mark.parametrize(
    ("op", "opset", "attrs", "axes_input", "axes"),
    [
        ("ReduceSum", 11, {"axes": [1]}, None, [1]),
        ("ReduceSum", 11, {"keepdims": 0}, None, [0, 1, 2]),
        ("ReduceSum", 13, {}, [-1], [-1]),
        ("ReduceSum", 13, {"keepdims": 0}, None, [0, 1, 2]),
        ("ReduceMean", 13, {"axes": [1, 2]}, None, [1, 2]),
        ("ReduceMean", 18, {}, [0], [0]),
        ("ReduceMax", 7, {"axes": [2], "keepdims": 0}, None, [2]),
        ("ReduceMax", 18, {}, None, [0, 1, 2]),
    ],
)
def test_reduce_axes_become_inputs(tmp_path, op, opset, attrs, axes_input, axes):
    inputs, inits = ["x"], {}
    if axes_input is not None:
        inputs, inits = ["x", "axes"], {"axes": np.array(axes_input, np.int64)}
    node = helper.make_node(op, inputs, ["y"], **attrs)
    graph = check_import(tmp_path, [node], {"x": rand(2, 3, 4)}, opset, inits)
    reduce = only(graph, Op[op.replace("Reduce", "REDUCE_").upper()])
    assert const(reduce, 1) == axes
    assert reduce.attrs == {"keepdims": attrs.get("keepdims", 1), "noop_with_empty_axes": 0}


def test_where_and_equal(tmp_path):
    nodes = [helper.make_node("Equal", ["a", "b"], ["m"]), helper.make_node("Where", ["m", "a", "b"], ["y"])]
    a = np.array([1, 2, 3, 4], np.float32)
    graph = check_import(
        tmp_path, nodes, {"a": a, "b": a[::-1].copy()}, 11, outputs={"y": np.float32, "m": np.bool_}
    )
    assert [n.op for n in graph.nodes] == [Op.EQUAL, Op.WHERE]
