"""TensorRT-ready ONNX: older opsets, the support table, the fp16 overflow check and simulation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import Builder
from tensorrt_helpers import cosine

from edgec.backends.tensorrt import BACKEND
from edgec.backends.tensorrt.fp16 import FP16_MAX, overflows, simulate
from edgec.errors import UnsupportedOpError
from edgec.ir import Op, to_onnx
from edgec.runtime import run, session
from edgec.targets import load_catalogue

CATALOGUE = load_catalogue()


def _graph_with(op: Op, **attrs) -> Builder:
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    b.output(b.node(op, [x], **attrs))
    return b


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_lowered_opsets_compute_the_same(opset):
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    y = b.node(Op.HARD_SWISH, [b.conv(x, 4)])
    y = b.node(Op.GELU, [y], approximate="none")
    mean = b.node(
        Op.REDUCE_MEAN,
        [y, b.const("axes", np.array([2, 3]))],
        (1, 4, 1, 1),
        keepdims=1,
        noop_with_empty_axes=0,
    )
    b.output(b.node(Op.ADD, [y, mean]))
    graph = b.graph
    feed = {"x": np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    reference = run(session(to_onnx(graph)), feed)
    lowered = to_onnx(graph, opset=opset)
    onnx.checker.check_model(lowered, full_check=True)
    assert lowered.opset_import[0].version == opset
    types = {n.op_type for n in lowered.graph.node}
    assert ("HardSwish" in types) == (opset >= 14) and ("Gelu" in types) == (opset >= 20)
    ours = run(session(lowered), feed)
    np.testing.assert_allclose(ours[graph.outputs[0].name], reference[graph.outputs[0].name], atol=1e-5)


def test_an_op_without_an_older_spelling_is_refused():
    b = Builder()
    x = b.input("x", (1, 4, 8))
    scale, bias = b.const("s", np.ones(8, np.float32)), b.const("b", np.zeros(8, np.float32))
    b.output(b.node(Op.LAYER_NORMALIZATION, [x, scale, bias], axis=-1, epsilon=1e-5, stash_type=1))
    with pytest.raises(UnsupportedOpError, match=r"LayerNormalization node .* opset 13"):
        to_onnx(b.graph, opset=13)
    found = BACKEND.check(b.graph, CATALOGUE["jetson-nano"])
    assert [u.op for u in found] == ["LayerNormalization"]
    assert "exists from ONNX opset 17" in found[0].reason and "up to 13" in found[0].reason
    assert BACKEND.check(b.graph, CATALOGUE["jetson-agx-orin"]) == []


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({"mode": "cubic", "coordinate_transformation_mode": "half_pixel"}, "nearest or linear"),
        ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, "tf_crop_and_resize"),
        ({"mode": "linear", "coordinate_transformation_mode": "half_pixel", "antialias": 1}, "antialiasing"),
    ],
)
def test_resize_restrictions_say_why(attrs, reason):
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    defaults = {
        "cubic_coeff_a": -0.75,
        "exclude_outside": 0,
        "extrapolation_value": 0.0,
        "nearest_mode": "round_prefer_floor",
        "keep_aspect_ratio_policy": "stretch",
        "antialias": 0,
    }
    b.output(b.node(Op.RESIZE, [x, None, scales], (1, 4, 16, 16), **{**defaults, **attrs}))
    found = BACKEND.check(b.graph, CATALOGUE["jetson-agx-orin"])
    assert len(found) == 1 and reason in found[0].reason


def test_asymmetric_quantization_is_refused():
    b = Builder()
    x = b.input("x", (1, 4))
    q = b.node(
        Op.QUANTIZE_LINEAR,
        [x, b.const("s", np.float32(0.1)), b.const("z", np.int8(3))],
        dtype=np.int8,
        axis=1,
        saturate=1,
        block_size=0,
    )
    b.output(
        b.node(
            Op.DEQUANTIZE_LINEAR,
            [q, b.const("s2", np.float32(0.1)), b.const("z2", np.int8(3))],
            dtype=np.float32,
            axis=1,
            block_size=0,
        )
    )
    found = BACKEND.check(b.graph, CATALOGUE["jetson-agx-orin"])
    assert [u.op for u in found] == ["QuantizeLinear", "DequantizeLinear"]
    assert all("zero point must be 0" in u.reason for u in found)


def test_fp16_overflow_names_weights_and_activations():
    b = Builder()
    x = b.input("x", (1, 4))
    big = b.const("big weight", np.full((4, 4), 1e5, np.float32))
    y = b.node(Op.MATMUL, [x, big], name="matmul out")
    small = b.node(Op.MUL, [x, b.const("two", np.float32(2.0))], name="harmless")
    b.output(y, small)
    feed = {"x": np.ones((1, 4), np.float32)}
    found = overflows(b.graph, [feed])
    assert found["limit"] == FP16_MAX == 65504.0
    assert found["weights"] == [{"tensor": "big weight", "nodes": ["matmul out"], "max_abs": 1e5}]
    assert [(a["tensor"], a["node"]) for a in found["activations"]] == [("matmul out", "matmul out")]
    assert found["activations"][0]["max_abs"] == pytest.approx(4e5)


def test_fp16_simulation_rounds_weights_and_activations():
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    b.output(b.node(Op.RELU, [b.conv(x, 4)]))
    model = to_onnx(b.graph)
    simulated = simulate(model)
    casts = [n for n in simulated.graph.node if n.op_type == "Cast"]
    assert len(casts) == 2 * 3  # the input, the Conv output, the Relu output
    feed = {"x": np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    name = b.graph.outputs[0].name
    exact, rounded = run(session(model), feed)[name], run(session(simulated), feed)[name]
    assert not np.array_equal(exact, rounded)
    np.testing.assert_array_equal(rounded, rounded.astype(np.float16).astype(np.float32))
    assert cosine(exact, rounded) > 0.9999
