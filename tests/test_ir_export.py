"""IR -> ONNX: fused activations and SiLU expand to what a hand-built ONNX model computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import Builder, random_feeds, weights
from onnx import helper, numpy_helper

from edgec.ir import Op, to_onnx
from edgec.ir.onnx_export import IR_VERSION, OPSET
from edgec.ir.ops import FUSABLE_ACTIVATIONS
from edgec.runtime import run, run_graph, session

CASES = {
    Op.RELU: {},
    Op.CLIP: {"min": -0.5, "max": 0.75},
    Op.SIGMOID: {},
    Op.SILU: {},
    Op.HARD_SWISH: {},
    Op.TANH: {},
    Op.LEAKY_RELU: {"alpha": 0.05},
    Op.HARD_SIGMOID: {"alpha": 0.3, "beta": 0.4},
}


def test_cases_cover_every_fusable_activation():
    assert set(CASES) == set(FUSABLE_ACTIVATIONS)


def _reference_activation(op: Op, attrs: dict, src: str, dst: str, dtype: type) -> tuple[list, list]:
    """The activation as plain ONNX nodes and initializers, written out by hand."""
    if op is Op.SILU:
        return [
            helper.make_node("Sigmoid", [src], ["ref_sig"]),
            helper.make_node("Mul", [src, "ref_sig"], [dst]),
        ], []
    if op is Op.CLIP:
        bounds = [numpy_helper.from_array(np.array(attrs[k], dtype), f"ref_{k}") for k in ("min", "max")]
        return [helper.make_node("Clip", [src, "ref_min", "ref_max"], [dst])], bounds
    return [helper.make_node(op.value, [src], [dst], **attrs)], []


def _reference_model(
    producer: str, x_shape, w, bias, attrs, op, act_attrs, out_shape, dtype
) -> onnx.ModelProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    act_nodes, act_inits = _reference_activation(op, act_attrs, "pre", "y", dtype)
    graph = helper.make_graph(
        [helper.make_node(producer, ["x", "w", "b"], ["pre"], **attrs), *act_nodes],
        "reference",
        [helper.make_tensor_value_info("x", elem, list(x_shape))],
        [helper.make_tensor_value_info("y", elem, list(out_shape))],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b"), *act_inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


PRODUCERS = {
    "Conv": (
        (1, 3, 5, 5),
        (4, 3, 3, 3),
        (1, 4, 5, 5),
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 1},
    ),
    "ConvTranspose": ((1, 3, 3, 3), (3, 4, 2, 2), (1, 4, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "Gemm": ((2, 6), (4, 6), (2, 4), {"alpha": 1.0, "beta": 1.0, "transB": 1}),
}


@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("op", list(CASES), ids=[op.value for op in CASES])
def test_fused_activation_matches_a_hand_built_model(producer, op):
    x_shape, w_shape, out_shape, attrs = PRODUCERS[producer]
    w, bias = weights(*w_shape, seed=1), weights(out_shape[1], seed=2)
    b = Builder()
    x = b.input("x", x_shape)
    fused = b.node(
        Op(producer),
        [x, b.const("w", w), b.const("b", bias)],
        out_shape,
        name="y",
        **attrs,
        activation=op,
        activation_attrs=CASES[op],
    )
    graph = b.output(fused)

    feeds = random_feeds(graph)
    got = run_graph(graph, feeds)["y"]
    reference = _reference_model(producer, x_shape, w, bias, attrs, op, CASES[op], out_shape, np.float32)
    np.testing.assert_allclose(got, run(session(reference), feeds)["y"], rtol=1e-6, atol=1e-6)


def test_fused_clip_on_float16_uses_float16_bounds():
    x_shape, w_shape, out_shape, attrs = PRODUCERS["Conv"]
    w, bias = weights(*w_shape, seed=1).astype(np.float16), weights(4, seed=2).astype(np.float16)
    b = Builder()
    x = b.input("x", x_shape, dtype=np.float16)
    fused = b.node(
        Op.CONV,
        [x, b.const("w", w), b.const("b", bias)],
        out_shape,
        name="y",
        **attrs,
        activation=Op.CLIP,
        activation_attrs=CASES[Op.CLIP],
    )
    graph = b.output(fused)

    feeds = random_feeds(graph)
    reference = _reference_model(
        "Conv", x_shape, w, bias, attrs, Op.CLIP, CASES[Op.CLIP], out_shape, np.float16
    )
    np.testing.assert_array_equal(run_graph(graph, feeds)["y"], run(session(reference), feeds)["y"])


def test_silu_node_exports_as_sigmoid_times_x():
    b = Builder()
    x = b.input("x", (2, 5))
    graph = b.output(b.node(Op.SILU, [x], name="y"))

    model = to_onnx(graph)
    assert [n.op_type for n in model.graph.node] == ["Sigmoid", "Mul"]
    feeds = random_feeds(graph)
    expected = feeds["x"] / (1 + np.exp(-feeds["x"]))
    np.testing.assert_allclose(run_graph(graph, feeds)["y"], expected, rtol=1e-6, atol=1e-6)


def test_model_interface_opset_and_extra_outputs():
    b = Builder()
    x = b.input("x", (2, 3))
    r = b.node(Op.RELU, [x], name="hidden")
    graph = b.output(b.node(Op.NEG, [r], name="y"))

    model = to_onnx(graph, extra_outputs=["hidden"])
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import] == [OPSET]
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["y", "hidden"]
    feeds = random_feeds(graph)
    outputs = run_graph(graph, feeds, extra_outputs=["hidden"])
    np.testing.assert_array_equal(outputs["hidden"], np.maximum(feeds["x"], 0))
