"""Bad models and bad shapes: one typed error with a message naming what is wrong."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from frontend_support import make_model, rand, save
from onnx import TensorProto, helper

from edgec.errors import ModelError, ShapeError, UnsupportedOpError, UsageError
from edgec.frontend import SUPPORTED_OPS, load_model
from edgec.runtime import run, run_graph, session


def _dynamic_model(opset: int = 13, nodes: list | None = None) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])
    graph = helper.make_graph(nodes or [helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_every_unsupported_op_is_reported_at_once(tmp_path):
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["v", "i"], name="t"),
        helper.make_node("Relu", ["x"], ["r"], name="fine"),
        helper.make_node("NonMaxSuppression", ["b", "s"], ["nms"], name="nms_1"),
        helper.make_node("TopK", ["x", "k"], ["v2", "i2"], name="t2"),
        helper.make_node("FusedConv", ["x"], ["fc"], name="fused", domain="com.microsoft"),
    ]
    model = _dynamic_model(11, nodes)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOpError) as info:
        load_model(save(model, tmp_path, "m.onnx"))
    message = str(info.value)
    assert message.startswith("m.onnx uses 3 ops edgec does not support: ")
    assert "FusedConv (domain 'com.microsoft', node 'fused', opset 1)" in message
    assert "NonMaxSuppression (node 'nms_1', opset 11)" in message
    assert "TopK (nodes 't', 't2', opset 11)" in message
    assert "Relu" not in message and "\n" not in message


ISSUE_OPS = [
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "LeakyRelu",
    "PRelu",
    "Elu",
    "Softmax",
    "Erf",
    "Gelu",
    "LayerNormalization",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Sqrt",
    "Exp",
    "Log",
    "Reciprocal",
    "Neg",
    "Abs",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Resize",
    "Upsample",
    "Gather",
    "Expand",
    "Cast",
    "LSTM",
    "Shape",
    "ConstantOfShape",
    "Identity",
    "Dropout",
    "Range",
    "Equal",
    "Where",
    "Constant",
]


def test_supported_ops_cover_the_issue_list():
    assert set(ISSUE_OPS) <= SUPPORTED_OPS
    assert "TopK" not in SUPPORTED_OPS


@pytest.mark.parametrize("opset", [6, 22])
def test_opset_outside_7_to_21(tmp_path, opset):
    with pytest.raises(
        UnsupportedOpError, match=f"m.onnx uses ONNX opset {opset}; edgec supports opsets 7 to 21"
    ):
        load_model(save(_dynamic_model(opset), tmp_path, "m.onnx"))


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_truncated_file(tmp_path, shared_models, fraction):
    data = (shared_models / "ppocr_mobile_v2_cls.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(
        ModelError, match=r"^cut.onnx is not a valid ONNX file: .*truncated or corrupt"
    ) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_invalid_model(tmp_path):
    with pytest.raises(ModelError, match=r"nothere.onnx"):
        load_model(tmp_path / "nothere.onnx")
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": rand(2)}, 13)
    model.graph.node[0].input[0] = "ghost"
    with pytest.raises(ModelError, match=r"bad.onnx is not valid ONNX: .*ghost"):
        load_model(save(model, tmp_path, "bad.onnx"))


def _external_model(tmp_path, location: str = "weights.bin"):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    model = make_model(nodes, {"x": rand(2, 64)}, 13, {"w": rand(64, 32)})
    path = tmp_path / "model.onnx"
    inline = onnx.ModelProto()
    inline.CopyFrom(model)
    onnx.save_model(model, path, save_as_external_data=True, location=location, size_threshold=0)
    return inline, path


def _point_at(path, location: str) -> None:
    model = onnx.load(path, load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, path)


@pytest.mark.parametrize("location", ["weights.bin", "data/nested/w.bin", "link.bin"])
def test_external_data_inside_the_model_directory(tmp_path, location):
    (tmp_path / "data" / "nested").mkdir(parents=True)
    model, path = _external_model(tmp_path, location)
    if location == "link.bin":
        (tmp_path / "link.bin").rename(tmp_path / "data" / "real.bin")
        os.symlink(tmp_path / "data" / "real.bin", tmp_path / "link.bin")
    graph = load_model(path)
    x = rand(2, 64)
    np.testing.assert_allclose(run_graph(graph, {"x": x})["y"], run(session(model), {"x": x})["y"], rtol=1e-6)


def test_external_data_escaping_the_directory_is_refused(tmp_path):
    inside = tmp_path / "model"
    inside.mkdir()
    _, path = _external_model(inside)
    (inside / "weights.bin").rename(tmp_path / "outside.bin")
    cases = {
        "../outside.bin": "escapes the model's directory",
        str(tmp_path / "outside.bin"): "not a relative path",
        "link.bin": "outside the model's directory",
        "absent.bin": "does not exist",
    }
    os.symlink(tmp_path / "outside.bin", inside / "link.bin")
    for location, reason in cases.items():
        _point_at(path, location)
        with pytest.raises(ModelError, match=f"model.onnx: tensor 'w' keeps its data in .*{reason}"):
            load_model(path)


def test_dynamic_dims_need_input_shape(tmp_path):
    path = save(_dynamic_model(), tmp_path, "dyn.onnx")
    with pytest.raises(ShapeError) as info:
        load_model(path)
    message = str(info.value)
    assert "dyn.onnx: input 'x' has a dynamic dim 2 ('H') and dim 3 (1x3x?x?)" in message
    assert "--input-shape x=1x3x224x224" in message
    with pytest.raises(ShapeError, match=r"dynamic dim 0 \('N'\)"):
        load_model(path, {}, default_batch=None)
    graph = load_model(path, {"x": (2, 3, 8, 9)})
    assert graph.inputs[0].shape == (2, 3, 8, 9) and graph.outputs[0].shape == (2, 3, 8, 9)


def test_default_batch_fills_dim_zero(tmp_path, shared_models):
    graph = load_model(shared_models / "ppocr_mobile_v2_cls.onnx", {"x": (4, 3, 48, 96)})
    assert graph.inputs[0].shape == (4, 3, 48, 96)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    assert load_model(save(model, tmp_path), default_batch=3).inputs[0].shape == (3, 4)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (
            {"image": (1, 3, 8, 8)},
            "--input-shape names 'image', but dyn.onnx has no input of that name; its inputs are: x",
        ),
        (
            {"x": (1, 3, 8)},
            r"--input-shape x=1x3x8 has 3 dims, but input 'x' of dyn.onnx has rank 4 \(\?x3x\?x\?\)",
        ),
        ({"x": (1, 3, 0, 8)}, "every dim must be a positive integer"),
    ],
)
def test_bad_input_shapes_are_usage_errors(tmp_path, shapes, match):
    with pytest.raises(UsageError, match=match):
        load_model(save(_dynamic_model(), tmp_path, "dyn.onnx"), shapes)


def test_data_dependent_shape_names_the_node(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_by_data")],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
            helper.make_tensor_value_info("s", 7, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ShapeError, match=r"model.onnx: the shape of 'y', output of node 'reshape_by_data'"):
        load_model(save(model, tmp_path))


def test_input_shape_contradicting_the_model_is_a_shape_error(tmp_path):
    nodes = [helper.make_node("Add", ["x", "b"], ["y"])]
    model = make_model(nodes, {"x": rand(2, 3)}, 13, {"b": rand(2, 3)})
    with pytest.raises(ShapeError, match=r"x=2x4 contradicts the static shape 2x3 .* model.onnx") as info:
        load_model(save(model, tmp_path), {"x": (2, 4)})
    assert "\n" not in str(info.value)
