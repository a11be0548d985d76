"""Calibration parameters on the IR, the Q/DQ simulation, bias correction and the TensorRT cache."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder
from quant_models import _conv

from edgec.backends.tensorrt.calibration_cache import (
    cache_scales,
    decode_scale,
    encode_scale,
    parse_cache,
    version_int,
    write_cache,
)
from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.errors import ModelError, UsageError
from edgec.ir import Graph, Op, verify
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    QuantScheme,
    apply_bias_corrections,
    bias_corrections,
    calibrate,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.qdq import quantized_layers
from edgec.runtime import run_graph


def dataset(graph: Graph, count: int = 16, seed: int = 0, offset: float = 0.0) -> Dataset:
    rng = np.random.default_rng(seed)
    arrays = {
        v.name: (rng.standard_normal((count, *v.shape)) + offset).astype(np.float32) for v in graph.inputs
    }
    return Dataset(arrays, "random")


def fake_quant(x: np.ndarray, scale: np.ndarray, axis: int | None = None, low: int = -128) -> np.ndarray:
    scale = np.asarray(scale, np.float32)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
    return (np.clip(np.round(x.astype(np.float32) / scale), low, 127) * scale).astype(np.float32)


def residual_graph() -> Graph:
    """x -> conv -> relu -> conv -> add(conv, relu) -> flatten -> gemm."""
    b = Builder("residual")
    x = b.input("x", (1, 3, 6, 6))
    h = b.node(Op.RELU, [b.conv(x, 4)], name="h")
    s = b.node(Op.ADD, [b.conv(h, 4), h], name="sum")
    flat = b.node(Op.FLATTEN, [s], (1, 144), name="flat", axis=1)
    return b.output(b.gemm(flat, 5, trans_b=1))


def test_conv_qdq_matches_numpy_fake_quant():
    b = Builder("conv")
    graph = b.output(b.conv(b.input("x", (1, 3, 6, 6)), 4))
    data = dataset(graph)
    calibrate(graph, data, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    qdq = quantize_qdq(graph)
    verify(qdq)
    conv = graph.nodes[0]
    x, weight, bias = conv.inputs
    x_scale = float(x.quant.scale)
    assert x_scale == np.float32(np.abs(data.arrays["x"]).max() / 127)
    w_scale = np.abs(weight.data).reshape(4, -1).max(axis=1) / 127
    np.testing.assert_allclose(weight.quant.scale, w_scale, rtol=1e-6)
    for feeds in list(data.samples())[:4]:
        expected, _ = _conv(
            fake_quant(feeds["x"], x_scale),
            fake_quant(weight.data, weight.quant.scale, 0, -127),
            bias.data,
            1,
        )
        got = run_graph(qdq, feeds)[graph.outputs[0].name]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_weights_are_per_output_column(trans_b):
    b = Builder("gemm")
    graph = b.output(b.gemm(b.input("x", (1, 16)), 8, trans_b=trans_b))
    data = dataset(graph)
    calibrate(graph, data, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    x, weight, bias = graph.nodes[0].inputs
    assert weight.quant.axis == (0 if trans_b else 1)
    matrix = weight.data if trans_b else weight.data.T  # [N, K]
    np.testing.assert_allclose(weight.quant.scale, np.abs(matrix).max(axis=1) / 127, rtol=1e-6)
    feeds = data.sample(0)
    expected_w = fake_quant(weight.data, weight.quant.scale, weight.quant.axis, -127)
    expected = fake_quant(feeds["x"], x.quant.scale) @ (expected_w.T if trans_b else expected_w) + bias.data
    got = run_graph(quantize_qdq(graph), feeds)[graph.outputs[0].name]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_conv_transpose_weights_are_per_channel_on_axis_1():
    b = Builder("deconv")
    graph = b.output(b.conv_transpose(b.input("x", (1, 4, 3, 3)), 6))
    calibrate(graph, dataset(graph), CalibrationConfig(method="minmax"))
    weight = graph.nodes[0].inputs[1]
    assert weight.quant.axis == 1 and weight.quant.scale.shape == (6,)
    verify(quantize_qdq(graph))


def test_tensorrt_placement_quantizes_weighted_inputs_and_the_residual_branch():
    graph = residual_graph()
    calibrate(graph, dataset(graph), CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    qdq = quantize_qdq(graph)
    verify(qdq)
    add = qdq.node_by_name("sum")
    conv_input, residual_input = add.inputs
    assert conv_input.producer.op is Op.CONV  # not between the conv and the Add: TensorRT fuses them
    assert residual_input.producer.op is Op.DEQUANTIZE_LINEAR
    assert residual_input.producer.inputs[0].producer.inputs[0].name == "h"
    for node in qdq.nodes_of(Op.CONV, Op.GEMM):
        data, weight = node.inputs[:2]
        assert data.producer.op is Op.DEQUANTIZE_LINEAR
        assert weight.producer.op is Op.DEQUANTIZE_LINEAR
        stored = weight.producer.inputs[0]
        assert stored.is_constant and stored.dtype == np.int8 and np.abs(stored.data).max() <= 127
        assert weight.producer.attrs["axis"] == 0
    for node in qdq.nodes_of(Op.QUANTIZE_LINEAR, Op.DEQUANTIZE_LINEAR):
        zero = node.inputs[2]
        assert zero.dtype == np.int8 and not zero.data.any()
    # one pair for 'h', shared by the second conv and the Add
    assert len(qdq.nodes_of(Op.QUANTIZE_LINEAR)) == 3
    assert not graph.nodes_of(Op.QUANTIZE_LINEAR, Op.DEQUANTIZE_LINEAR)  # the input graph is untouched
    assert [n.name for n in quantized_layers(graph)] == [n.name for n in graph.nodes_of(Op.CONV)] + [
        "sum",
        graph.nodes[-1].name,
    ]


def test_all_placement_and_float_layers():
    graph = residual_graph()
    calibrate(graph, dataset(graph), CalibrationConfig(method="minmax"))
    everything = quantize_qdq(graph, placement="all")
    relu = everything.node_by_name("h")
    assert relu.inputs[0].producer.op is Op.DEQUANTIZE_LINEAR
    first_conv = graph.nodes_of(Op.CONV)[0].name
    mixed = quantize_qdq(graph, float_layers=[first_conv])
    conv = mixed.node_by_name(first_conv)
    assert conv.inputs[0].name == "x" and conv.inputs[1].is_constant and conv.inputs[1].dtype == np.float32


def test_integer_only_placement_quantizes_the_outputs_with_headroom():
    """Placement "all": the output keeps its name behind a Q/DQ pair, over 1.5x what calibration saw."""
    graph = residual_graph()
    data = dataset(graph)
    calibration = calibrate(graph, data, CalibrationConfig(method="percentile"), TFLITE_SCHEME)
    output = graph.outputs[0]
    stats = calibration.statistics.tensors[output.name]
    low, high = calibration.ranges[output.name]
    assert (low, high) == pytest.approx((1.5 * stats.minimum, 1.5 * stats.maximum))
    qdq = quantize_qdq(graph, placement="all")
    verify(qdq)
    assert qdq.outputs[0].name == output.name
    assert qdq.outputs[0].producer.op is Op.DEQUANTIZE_LINEAR
    assert qdq.values[f"{output.name}_float"].producer.op is Op.GEMM
    # Every output value is a step of the output's int8 grid.
    codes = run_dataset(qdq, data)[output.name] / float(output.quant.scale) + int(output.quant.zero_point)
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    # TensorRT leaves the outputs in float: the same graph calibrated for it ends in the Gemm.
    calibrate(graph, data, CalibrationConfig(method="percentile"), TENSORRT_SCHEME)
    assert quantize_qdq(graph).outputs[0].producer.op is Op.GEMM


def test_asymmetric_scheme_gives_zero_points():
    graph = residual_graph()
    calibrate(
        graph, dataset(graph, offset=2.0), CalibrationConfig(method="minmax"), QuantScheme(symmetric=False)
    )
    x = graph.inputs[0]
    assert x.quant.dtype == np.int8 and int(x.quant.zero_point) != 0
    qdq = quantize_qdq(graph)
    verify(qdq)
    uint8 = QuantScheme(symmetric=False, activation_dtype="uint8")
    calibrate(graph, dataset(graph), CalibrationConfig(method="minmax"), uint8)
    assert graph.inputs[0].quant.zero_point.dtype == np.uint8
    out = run_graph(quantize_qdq(graph), dataset(graph).sample(0))
    assert np.isfinite(next(iter(out.values()))).all()


def test_power_of_two_scales_everywhere():
    graph = residual_graph()
    calibrate(graph, dataset(graph), CalibrationConfig(method="percentile"), QuantScheme(power_of_two=True))
    for value in graph.values.values():
        if value.quant is not None:
            exponents = np.log2(np.asarray(value.quant.scale, np.float64))
            np.testing.assert_array_equal(exponents, np.round(exponents), err_msg=value.name)


def test_bias_correction_cancels_the_mean_error_of_int8_weights():
    b = Builder("biased")
    graph = b.output(b.conv(b.input("x", (1, 8, 6, 6)), 8))
    data = dataset(graph, count=32, offset=3.0)  # inputs with a large mean make the weight error visible
    calibration = calibrate(graph, data, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    reference = run_dataset(graph, data)[graph.outputs[0].name]
    corrections = bias_corrections(graph, calibration)
    conv = graph.nodes[0].name
    assert set(corrections) == {conv}

    def mean_error(biases: dict) -> float:
        out = run_dataset(quantize_qdq(graph, biases=biases), data)[graph.outputs[0].name]
        return float(np.abs((out - reference)[..., 1:-1, 1:-1].mean(axis=(0, 1, 3, 4))).max())

    assert mean_error(corrections) < 0.2 * mean_error({})
    assert apply_bias_corrections(graph, corrections) == 1
    assert graph.nodes[0].inputs[2].name == f"{conv}_bias_corrected"


def test_tensorrt_cache_round_trips_to_the_qdq_models_scales():
    graph = residual_graph()
    calibrate(graph, dataset(graph), CalibrationConfig(method="entropy"), TENSORRT_SCHEME)
    qdq = quantize_qdq(graph)
    text = write_cache(cache_scales(graph), version_int("8.6.1"))
    cache = parse_cache(text)
    assert text.splitlines()[0] == "TRT-8601-EntropyCalibration2"
    assert (cache.version, cache.algorithm) == (8601, "EntropyCalibration2")
    quantizers = qdq.nodes_of(Op.QUANTIZE_LINEAR)
    assert quantizers
    for node in quantizers:
        tensor, scale = node.inputs[0].name, node.inputs[1].data
        assert np.float32(cache.scales[tensor]) == scale  # bit-identical float32
    assert set(cache.scales) == {v.name for v in graph.values.values() if v.quant and not v.is_constant}


def test_cache_format_details():
    assert encode_scale(1 / 127) == "3c010204" and encode_scale(0.125) == "3e000000"
    assert decode_scale("3e000000") == 0.125
    assert version_int("10.3.0") == 100300 and version_int("8.2.1") == 8201
    cache = parse_cache("TRT-100300-EntropyCalibration2\nblock:0/out:put: 3e000000\n\nx: 3c010204\n")
    assert cache.scales == {"block:0/out:put": 0.125, "x": decode_scale("3c010204")}
    with pytest.raises(UsageError, match=":2: expected"):
        parse_cache("TRT-8601-EntropyCalibration2\nx: 3e00\n")
    with pytest.raises(UsageError, match="line 1"):
        parse_cache("x: 3e000000\n")
    with pytest.raises(ModelError, match="line break"):
        write_cache({"a\nb": 1.0}, 8601)


def test_cache_needs_symmetric_scales():
    graph = residual_graph()
    calibrate(
        graph, dataset(graph, offset=1.0), CalibrationConfig(method="minmax"), QuantScheme(symmetric=False)
    )
    with pytest.raises(ModelError, match="symmetric per-tensor"):
        cache_scales(graph)


@pytest.mark.parametrize("scheme", [TFLITE_SCHEME, QuantScheme(symmetric=False, activation_dtype="uint8")])
def test_each_layer_alone_simulates_with_asymmetric_placement_everywhere(scheme):
    """Per-layer sensitivity quantizes one layer at a time; with asymmetric Q/DQ on every tensor, a lone pair
    before a Reshape used to make ONNX Runtime's own Q/DQ rewrites fail. Simulation runs unoptimized."""
    b = Builder("tail")
    x = b.input("x", (1, 3, 6, 6))
    pooled = b.node(Op.GLOBAL_AVERAGE_POOL, [b.conv(x, 4)], (1, 4, 1, 1), name="pooled")
    shape = b.const("shape", np.array([1, 4], np.int64))
    flat = b.node(Op.RESHAPE, [pooled, shape], (1, 4), name="flat", allowzero=0)
    graph = b.output(b.gemm(flat, 5, trans_b=1))
    data = dataset(graph)
    calibrate(graph, data, CalibrationConfig(method="minmax"), scheme)
    names = [node.name for node in quantized_layers(graph, "all")]
    assert "flat" in names
    for keep in names:
        outputs = run_dataset(quantize_qdq(graph, "all", [n for n in names if n != keep]), data)
        assert all(np.isfinite(array).all() for array in outputs.values()), keep
