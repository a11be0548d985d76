"""If nodes whose condition the input shapes settle: the taken branch is imported (nested Ifs too),
Size and Not fold; an If on input data is refused naming the node."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from edgec.errors import UnsupportedOpError
from edgec.frontend import load_model
from edgec.ir import Op
from edgec.runtime import run, run_graph, session

F = onnx.TensorProto.FLOAT


def _branch(name: str, op: str) -> onnx.GraphProto:
    node = helper.make_node(op, ["x"], [f"{name}_out"])
    return helper.make_graph([node], name, [], [helper.make_tensor_value_info(f"{name}_out", F, [2, 3])])


def _model(condition_nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    """y = If(cond, then: Relu(x), else: Sigmoid(x)), then y * 2."""
    nodes = [
        *condition_nodes,
        helper.make_node(
            "If",
            ["cond"],
            ["picked"],
            then_branch=_branch("then", "Relu"),
            else_branch=_branch("else", "Sigmoid"),
        ),
        helper.make_node("Mul", ["picked", "two"], ["y"]),
    ]
    two = helper.make_tensor("two", F, [], [2.0])
    graph = helper.make_graph(nodes, "if", inputs, [helper.make_tensor_value_info("y", F, [2, 3])], [two])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def _shape_condition(length: int) -> list[onnx.NodeProto]:
    """cond = Not(Size(x) == length): decided by the input shape alone."""
    count = helper.make_tensor("count", onnx.TensorProto.INT64, [], [length])
    return [
        helper.make_node("Size", ["x"], ["size"]),
        helper.make_node("Constant", [], ["count"], value=count),
        helper.make_node("Equal", ["size", "count"], ["same"]),
        helper.make_node("Not", ["same"], ["cond"]),
    ]


@pytest.mark.parametrize(("length", "kept"), [(6, Op.SIGMOID), (5, Op.RELU)])
def test_if_on_shapes_imports_the_taken_branch(tmp_path, length, kept):
    model = _model(_shape_condition(length), [helper.make_tensor_value_info("x", F, [2, 3])])
    path = tmp_path / "if.onnx"
    onnx.save(model, path)
    graph = load_model(path)
    assert kept in {n.op for n in graph.nodes} and not {Op.RELU, Op.SIGMOID} - {kept} & {
        n.op for n in graph.nodes
    }
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)}
    np.testing.assert_allclose(run_graph(graph, feeds)["y"], run(session(model), feeds)["y"], rtol=1e-6)


def test_if_on_input_data_is_refused_naming_the_node(tmp_path):
    model = _model(
        [], [helper.make_tensor_value_info("x", F, [2, 3]), helper.make_tensor_value_info("cond", 9, [])]
    )
    path = tmp_path / "if.onnx"
    onnx.save(model, path)
    with pytest.raises(
        UnsupportedOpError, match=r"if.onnx: node 'picked' \(If, opset 15\) needs a constant condition"
    ):
        load_model(path)
