"""int8 builds of layers the quantization engine once choked on: a 1-D convolution (GPTQ reads
its input as 1 x L patches) and a boolean [batch, classes]-shaped output (not class scores)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.frontend import load_model
from edgec.ir.ops import Op
from edgec.ir.weight_matrices import layer_patches
from edgec.pipeline import BuildOptions, build


def _model(path):
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((8, 4, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1], strides=[2]),
        helper.make_node("Relu", ["c"], ["y"]),
        helper.make_node("ReduceMean", ["y"], ["m"], axes=[2], keepdims=0),
        helper.make_node("Cast", ["m"], ["on"], to=TensorProto.BOOL),
    ]
    graph = helper.make_graph(
        nodes,
        "conv1d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 32])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16]),
            helper.make_tensor_value_info("on", TensorProto.BOOL, [1, 8]),
        ],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_conv1d_patches_are_its_windows(tmp_path):
    graph = load_model(_model(tmp_path / "m.onnx"), {})
    (conv,) = [n for n in graph.nodes if n.op is Op.CONV]
    x = np.arange(2 * 4 * 32, dtype=np.float32).reshape(2, 4, 32)
    patches = layer_patches(conv, x)
    assert patches.shape == (1, 2 * 16, 4 * 3)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    # output position 5 of sample 1 reads input columns 10..12 (stride 2) of every channel
    assert np.array_equal(patches[0, 16 + 5], padded[1, :, 10:13].ravel())


def test_int8_build_with_a_conv1d_and_a_boolean_output(tmp_path):
    result = build(
        BuildOptions(
            model=_model(tmp_path / "m.onnx"),
            target="onnxruntime-cpu",
            precision="int8",
            output=tmp_path / "out",
        )
    )
    assert result.report["accuracy"]["passed"]
    assert result.report["accuracy"]["outputs"]["on"]["top1"] is None
