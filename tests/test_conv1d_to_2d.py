"""conv1d-to-2d: 1-D convolutions (an audio front end's) as 2-D ones; the graph computes the same,
and a TFLite build of them agrees with ONNX Runtime (before the pass: 'axes don't match array')."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgec.frontend import load_model
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.pipeline import BuildOptions, build
from edgec.runtime import run, run_graph, session

CASES = {
    "strided, padded": {"strides": [2], "pads": [1, 1]},
    "dilated": {"dilations": [2], "pads": [2, 2]},
    "depthwise": {"group": 4, "pads": [1, 1]},
}


def _model(**attrs: object) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    group = int(attrs.get("group", 1))
    weight = numpy_helper.from_array(rng.standard_normal((4, 4 // group, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3], **attrs)]
    nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 32])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    model = helper.make_model(
        helper.make_graph(nodes, "conv1d", [x], [y], [weight, bias]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    return onnx.shape_inference.infer_shapes(model)


@pytest.mark.parametrize("case", CASES)
def test_conv1d_becomes_2d_and_computes_the_same(tmp_path, case):
    model = _model(**CASES[case])
    onnx.save(model, tmp_path / "m.onnx")
    graph = load_model(tmp_path / "m.onnx")
    (record,) = run_passes(graph, [make_spec("conv1d-to-2d")])
    assert record.rewrites == 1
    (conv,) = graph.nodes_of(Op.CONV)
    assert conv.inputs[0].shape == (1, 4, 1, 32) and conv.attrs["kernel_shape"] == [1, 3]
    feeds = {"x": np.random.default_rng(1).standard_normal((1, 4, 32)).astype(np.float32)}
    np.testing.assert_allclose(
        run_graph(graph, feeds)["y"], run(session(model), feeds)["y"], rtol=1e-5, atol=1e-5
    )


def test_conv1d_builds_for_tflite(tmp_path):
    onnx.save(_model(strides=[2], pads=[1, 1]), tmp_path / "m.onnx")
    result = build(
        BuildOptions(model=tmp_path / "m.onnx", target="rpi4", precision="fp32", output=tmp_path / "o")
    )
    assert min(o["cosine"] for o in result.report["accuracy"]["outputs"].values()) >= 0.9999
