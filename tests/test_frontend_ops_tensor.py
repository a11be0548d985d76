"""Import of constants, shape manipulation, indexing, casts and Resize/Upsample across opsets."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_support import check_import, const, only, rand
from onnx import helper, numpy_helper

from edgec.errors import UnsupportedOpError
from edgec.ir import Op


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"value": numpy_helper.from_array(np.arange(3, dtype=np.float32))}, np.arange(3, dtype=np.float32)),
        ({"value_float": 2.5}, np.float32(2.5)),
        ({"value_ints": [1, 2, 3]}, np.array([1, 2, 3], np.int64)),
    ],
)
def test_constant_becomes_a_constant_value(tmp_path, attrs, expected):
    nodes = [helper.make_node("Constant", [], ["c"], **attrs), helper.make_node("Add", ["x", "c"], ["y"])]
    dtype = expected.dtype.type
    graph = check_import(tmp_path, nodes, {"x": np.ones(3, dtype)}, 13, outputs={"y": dtype})
    add = only(graph, Op.ADD)
    np.testing.assert_array_equal(add.inputs[1].data, expected)
    assert add.inputs[1].dtype == expected.dtype


@pytest.mark.parametrize(
    ("opset", "inputs"), [(7, ["x"]), (12, ["x", "ratio"]), (13, ["x", "ratio", "train"])]
)
def test_dropout_is_identity(tmp_path, opset, inputs):
    inits = {"ratio": np.float32(0.3), "train": np.bool_(False)}
    node = helper.make_node("Dropout", inputs, ["y"], **({"ratio": 0.3} if opset < 12 else {}))
    graph = check_import(tmp_path, [node], {"x": rand(2, 3)}, opset, {k: inits[k] for k in inputs[1:]})
    assert [n.op for n in graph.nodes] == [Op.IDENTITY] and len(graph.nodes[0].inputs) == 1


def test_dropout_mask_must_be_unused(tmp_path):
    node = helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop")
    with pytest.raises(UnsupportedOpError, match=r"'drop' \(Dropout, opset 13\).*'mask'"):
        check_import(tmp_path, [node], {"x": rand(2, 3)}, 13, outputs={"y": np.float32, "mask": np.bool_})


@pytest.mark.parametrize("opset", [9, 13, 21])
def test_cast_to_is_a_numpy_dtype(tmp_path, opset):
    node = helper.make_node("Cast", ["x"], ["y"], to=helper.np_dtype_to_tensor_dtype(np.dtype(np.int32)))
    graph = check_import(tmp_path, [node], {"x": rand(4) * 10}, opset, outputs={"y": np.int32})
    assert only(graph, Op.CAST).attrs["to"] == np.dtype(np.int32)


@pytest.mark.parametrize("opset", [7, 13])
def test_transpose_default_perm_is_explicit(tmp_path, opset):
    graph = check_import(tmp_path, [helper.make_node("Transpose", ["x"], ["y"])], {"x": rand(2, 3, 4)}, opset)
    assert only(graph, Op.TRANSPOSE).attrs == {"perm": [2, 1, 0]}


@pytest.mark.parametrize(
    ("opset", "attrs", "axes_input", "axes"),
    [
        (11, {"axes": [0, 2]}, None, [0, 2]),
        (11, {}, None, [0, 2]),
        (13, {}, [-1], [-1]),
        (21, {}, None, [0, 2]),
    ],
)
def test_squeeze_axes_are_an_explicit_input(tmp_path, opset, attrs, axes_input, axes):
    inputs, inits = (["x", "a"], {"a": np.array(axes_input, np.int64)}) if axes_input else (["x"], {})
    node = helper.make_node("Squeeze", inputs, ["y"], **attrs)
    graph = check_import(tmp_path, [node], {"x": rand(1, 3, 1)}, opset, inits)
    assert const(only(graph, Op.SQUEEZE), 1) == axes


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_unsqueeze_axes_attribute_becomes_input(tmp_path, opset):
    inputs, attrs, inits = (["x"], {"axes": [0, 2]}, {}) if opset < 13 else (["x", "a"], {}, {"a": [0, 2]})
    inits = {k: np.array(v, np.int64) for k, v in inits.items()}
    graph = check_import(
        tmp_path, [helper.make_node("Unsqueeze", inputs, ["y"], **attrs)], {"x": rand(3)}, opset, inits
    )
    assert const(only(graph, Op.UNSQUEEZE), 1) == [0, 2]


@pytest.mark.parametrize(
    ("opset", "attrs", "sizes_input", "outputs", "sizes"),
    [
        (7, {"axis": 1, "split": [2, 4]}, None, 2, [2, 4]),
        (11, {"axis": -2}, None, 3, [2, 2, 2]),
        (13, {"axis": 1}, [1, 5], 2, [1, 5]),
        (13, {}, None, 2, [1, 1]),
        (18, {"axis": 2, "num_outputs": 2}, None, 2, [3, 2]),
    ],
)
def test_split_sizes_are_an_explicit_input(tmp_path, opset, attrs, sizes_input, outputs, sizes):
    names = [f"y{i}" for i in range(outputs)]
    inputs, inits = (["x", "s"], {"s": np.array(sizes_input, np.int64)}) if sizes_input else (["x"], {})
    node = helper.make_node("Split", inputs, names, **attrs)
    graph = check_import(tmp_path, [node], {"x": rand(2, 6, 5)}, opset, inits, outputs=names)
    split = only(graph, Op.SPLIT)
    assert const(split, 1) == sizes and set(split.attrs) == {"axis"}


@pytest.mark.parametrize(
    ("opset", "attrs", "inputs", "inits"),
    [
        (7, {"starts": [1, 0], "ends": [3, -1]}, ["x"], {}),
        (9, {"starts": [1], "ends": [100], "axes": [2]}, ["x"], {}),
        (10, {}, ["x", "s", "e"], {"s": [0, 1], "e": [2, 3]}),
        (13, {}, ["x", "s", "e", "a", "st"], {"s": [-1], "e": [-100], "a": [-1], "st": [-2]}),
    ],
)
def test_slice_parameters_are_explicit_inputs(tmp_path, opset, attrs, inputs, inits):
    inits = {k: np.array(v, np.int64) for k, v in inits.items()}
    node = helper.make_node("Slice", inputs, ["y"], **attrs)
    graph = check_import(tmp_path, [node], {"x": rand(3, 4, 5)}, opset, inits)
    sliced = only(graph, Op.SLICE)
    assert len(sliced.inputs) == 5 and all(v is not None and v.is_constant for v in sliced.inputs[1:])
    assert sliced.attrs == {}


@pytest.mark.parametrize(
    ("opset", "attrs", "inputs", "inits", "pads"),
    [
        (7, {"pads": [0, 1, 0, 2], "value": 1.5}, ["x"], {}, [0, 1, 0, 2]),
        (9, {"pads": [1, 1, 1, 1], "mode": "reflect"}, ["x"], {}, [1, 1, 1, 1]),
        (11, {}, ["x", "p"], {"p": np.array([0, 2, 0, 1], np.int64)}, [0, 2, 0, 1]),
        (13, {"mode": "edge"}, ["x", "p"], {"p": np.array([1, 0, 1, 0], np.int64)}, [1, 0, 1, 0]),
        (
            18,
            {},
            ["x", "p", "v", "a"],
            {"p": np.array([1, 2], np.int64), "v": np.float32(3), "a": np.array([-1], np.int64)},
            [0, 1, 0, 2],
        ),
        (19, {"mode": "wrap"}, ["x", "p"], {"p": np.array([0, 1, 0, 1], np.int64)}, [0, 1, 0, 1]),
    ],
)
def test_pad_parameters_are_inputs(tmp_path, opset, attrs, inputs, inits, pads):
    graph = check_import(
        tmp_path, [helper.make_node("Pad", inputs, ["y"], **attrs)], {"x": rand(3, 4)}, opset, inits
    )
    pad = only(graph, Op.PAD)
    assert const(pad, 1) == pads and pad.attrs == {"mode": attrs.get("mode", "constant")}
    assert len(pad.inputs) == 3 and (pad.inputs[2] is not None) == (pad.attrs["mode"] == "constant")


def test_shape_ops_fold_away(tmp_path):
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], start=1),
        helper.make_node(
            "ConstantOfShape", ["s"], ["zeros"], value=numpy_helper.from_array(np.array([2.0], np.float32))
        ),
        helper.make_node("Add", ["x", "zeros"], ["y"]),
        helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
        helper.make_node("Expand", ["x", "big"], ["e"]),
        helper.make_node("Flatten", ["e"], ["f"], axis=2),
        helper.make_node("Gather", ["f", "idx"], ["g"], axis=1),
        helper.make_node("Concat", ["g", "g"], ["c"], axis=0),
        helper.make_node("Reshape", ["c", "shape"], ["z"]),
        helper.make_node("Identity", ["z"], ["out"]),
    ]
    inits = {
        "start": np.int64(1),
        "limit": np.int64(7),
        "delta": np.int64(2),
        "big": np.array([2, 1, 1, 1], np.int64),
        "idx": np.array([0, 2], np.int64),
        "shape": np.array([-1], np.int64),
    }
    graph = check_import(
        tmp_path,
        nodes,
        {"x": rand(1, 2, 3, 4)},
        15,
        inits,
        outputs={"y": np.float32, "r": np.int64, "out": np.float32},
    )
    assert not graph.nodes_of(Op.SHAPE, Op.CONSTANT_OF_SHAPE, Op.RANGE)
    assert graph.outputs[1].is_constant and graph.outputs[1].name == "r"


@pytest.mark.parametrize(
    ("opset", "node", "inits"),
    [
        (7, helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 3.0]), {}),
        (9, helper.make_node("Upsample", ["x", "s"], ["y"], mode="linear"), {"s": [1, 1, 2, 2]}),
        (10, helper.make_node("Resize", ["x", "s"], ["y"]), {"s": [1, 1, 1.5, 2]}),
        (10, helper.make_node("Resize", ["x", "s"], ["y"]), {"s": [1, 1, 0.6, 0.5]}),
        (10, helper.make_node("Resize", ["x", "s"], ["y"], mode="linear"), {"s": [1, 1, 0.5, 2]}),
    ],
)
def test_upsample_and_resize_10_become_asymmetric_resize(tmp_path, opset, node, inits):
    inits = {k: np.array(v, np.float32) for k, v in inits.items()}
    graph = check_import(tmp_path, [node], {"x": rand(1, 2, 5, 6)}, opset, inits)
    resize = only(graph, Op.RESIZE)
    assert resize.attrs["coordinate_transformation_mode"] == "asymmetric"
    assert resize.inputs[1] is None and resize.inputs[2] is not None and resize.inputs[3] is None


def test_resize_10_mixing_growth_and_shrinking_is_rejected(tmp_path):
    node = helper.make_node("Resize", ["x", "s"], ["y"], name="rz")
    with pytest.raises(UnsupportedOpError, match=r"'rz'.*enlarges"):
        check_import(
            tmp_path, [node], {"x": rand(1, 2, 5, 6)}, 10, {"s": np.array([1, 1, 0.5, 2], np.float32)}
        )


RESIZE_CASES = [
    (
        11,
        {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
        {"roi": [], "scales": [], "sizes": [1, 2, 7, 9]},
    ),
    (11, {"mode": "nearest", "nearest_mode": "ceil"}, {"roi": [], "scales": [1, 1, 1.7, 0.8]}),
    (
        11,
        {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
        {"roi": [0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7], "scales": [], "sizes": [1, 2, 4, 4]},
    ),
    (
        13,
        {"mode": "cubic", "coordinate_transformation_mode": "pytorch_half_pixel"},
        {"roi": None, "scales": [1, 1, 2, 2]},
    ),
    (18, {"mode": "linear", "axes": [2, 3]}, {"roi": None, "scales": None, "sizes": [8, 3]}),
    (18, {"mode": "nearest", "axes": [-1], "antialias": 0}, {"roi": None, "scales": [2.5]}),
    (
        19,
        {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
        {"roi": None, "scales": [1, 1, 0.7, 1.3]},
    ),
]


@pytest.mark.parametrize(("opset", "attrs", "params"), RESIZE_CASES)
def test_resize_forms_become_one(tmp_path, opset, attrs, params):
    dtypes = {"roi": np.float32, "scales": np.float32, "sizes": np.int64}
    inputs = ["x"] + [name if value is not None else "" for name, value in params.items()]
    inits = {k: np.array(v, dtypes[k]) for k, v in params.items() if v is not None}
    graph = check_import(
        tmp_path, [helper.make_node("Resize", inputs, ["y"], **attrs)], {"x": rand(1, 2, 5, 6)}, opset, inits
    )
    resize = only(graph, Op.RESIZE)
    assert "axes" not in resize.attrs and len(resize.attrs) == 8
    roi, scales, sizes = resize.inputs[1:4]
    assert (roi is not None) == (attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize")
    assert (scales is None) != (sizes is None)
    assert len((scales or sizes).data) == 4


def test_shapes_and_constants_needed_during_import_are_settled_by_folding(tmp_path):
    """Softmax-11 needs its input's rank and Resize-10 its scales, which only folding reveals."""
    f32, i64 = (helper.np_dtype_to_tensor_dtype(np.dtype(t)) for t in (np.float32, np.int64))
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
        helper.make_node("Cast", ["batch"], ["batch_f"], to=f32),
        helper.make_node("Cast", ["batch_f"], ["batch_i"], to=i64),
        helper.make_node("Concat", ["batch_i", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["y"], axis=1),
        helper.make_node("Cast", ["scales_i"], ["scales"], to=f32),
        helper.make_node("Resize", ["x", "scales"], ["z"]),
    ]
    inits = {
        "zero": np.array([0], np.int64),
        "one": np.array([1], np.int64),
        "minus_one": np.array([-1], np.int64),
        "scales_i": np.array([1, 1, 2, 3], np.int64),
    }
    outputs = {"y": (np.float32, ["a", "b"]), "z": (np.float32, ["n", "c", "h", "w"])}
    graph = check_import(tmp_path, nodes, {"x": rand(2, 3, 4, 5)}, 10, inits, outputs=outputs)
    assert [n.op for n in graph.nodes] == [Op.RESHAPE, Op.SOFTMAX, Op.RESIZE]
    assert only(graph, Op.RESIZE).attrs["nearest_mode"] == "floor"
