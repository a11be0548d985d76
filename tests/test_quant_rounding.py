"""GPTQ rounding of int8 weights (edgec.quantization.rounding) and its use in the Q/DQ model."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder
from quant_models import digits_int8_report

from edgec.backends.snpe.encodings import SNPE_SCHEME
from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.ir import Graph, Op, verify
from edgec.ir.weight_matrices import layer_patches
from edgec.metrics import compare_outputs
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    bias_corrections,
    calibrate,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.rounding import gptq_rounding
from edgec.quantization.scheme import quantize_array
from edgec.runtime import run_graph


def small_cnn() -> Graph:
    """conv 3x3 -> relu -> depthwise 3x3 -> relu -> conv 1x1 -> flatten -> gemm."""
    b = Builder("small")
    x = b.input("x", (1, 4, 8, 8))
    h = b.node(Op.RELU, [b.conv(x, 8)], name="h")
    d = b.node(Op.RELU, [b.conv(h, 8, group=8)], name="d")
    p = b.conv(d, 6, kernel=1)
    flat = b.node(Op.FLATTEN, [p], (1, 384), name="flat", axis=1)
    return b.output(b.gemm(flat, 5, trans_b=1))


def correlated_data(graph: Graph, count: int = 24, seed: int = 0) -> Dataset:
    """Smooth images whose channels share a component: inputs GPTQ's error feedback can exploit."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((count, 1, 8, 8))
    noise = 0.3 * rng.standard_normal((count, 4, 8, 8))
    images = np.cumsum(shared + noise, axis=3) / 2
    return Dataset({graph.inputs[0].name: images[:, None].astype(np.float32)}, "correlated")


@pytest.fixture(scope="module")
def calibrated():
    graph = small_cnn()
    data = correlated_data(graph)
    calibration = calibrate(graph, data, CalibrationConfig(method="minmax"))
    return graph, data, calibration, gptq_rounding(graph, data)


def _layer_error(graph: Graph, node, data: Dataset, ints: np.ndarray) -> float:
    """Squared error of the layer's output (before bias) on the calibration data with weights ``ints``."""
    weight = node.input(1)
    scale = np.asarray(weight.quant.scale, np.float64).reshape(-1, *[1] * (weight.data.ndim - 1))
    inputs = np.concatenate(
        [run_graph(graph, feeds, [node.inputs[0].name])[node.inputs[0].name] for feeds in data.samples()]
    )
    patches = layer_patches(node, inputs.astype(np.float64))
    groups = patches.shape[0]
    delta = (ints * scale - weight.data).reshape(groups, weight.data.shape[0] // groups, -1)
    return float(sum(np.sum((patches[g] @ delta[g].T) ** 2) for g in range(groups)))


def test_gptq_weights_reproduce_the_layer_outputs_better_than_rounding_to_nearest(calibrated):
    graph, data, _, rounded = calibrated
    convs = graph.nodes_of(Op.CONV)
    assert sorted(rounded) == sorted(node.name for node in convs)  # the Gemm has 24 rows for 384 inputs
    for node in convs:
        weight = node.input(1)
        ints = rounded[node.name]
        assert ints.dtype == np.int8 and ints.shape == weight.data.shape
        assert ints.min() >= -127 and ints.max() <= 127
        nearest = quantize_array(weight.data, weight.quant, low=-127)
        assert np.any(ints != nearest)
        ratio = _layer_error(graph, node, data, ints) / _layer_error(graph, node, data, nearest)
        assert ratio < 0.97


def test_qdq_model_stores_the_rounded_weights_with_the_same_scales(calibrated):
    graph, data, calibration, rounded = calibrated
    qdq = quantize_qdq(graph, rounded=rounded, biases=bias_corrections(graph, calibration, rounded))
    verify(qdq)
    layers = {node.name: node for node in qdq.nodes_of(Op.CONV)}
    for name, ints in rounded.items():
        dequantize = layers[name].input(1).producer
        assert dequantize.op is Op.DEQUANTIZE_LINEAR
        np.testing.assert_array_equal(dequantize.inputs[0].data, ints)
        original = graph.values[layers[name].input(1).name.removesuffix("_dequantized")]
        np.testing.assert_array_equal(dequantize.inputs[1].data, original.quant.scale)
    reference = run_dataset(graph, data)
    output = graph.outputs[0].name
    rounded_snr = compare_outputs(reference, run_dataset(qdq, data)).outputs[output].snr_db
    nearest_snr = compare_outputs(reference, run_dataset(quantize_qdq(graph), data)).outputs[output].snr_db
    assert rounded_snr > nearest_snr


def test_without_rounded_weights_the_qdq_model_is_unchanged(calibrated):
    graph, _, _, _ = calibrated
    plain, empty = quantize_qdq(graph), quantize_qdq(graph, rounded={})
    for node, twin in zip(plain.nodes, empty.nodes, strict=True):
        for a, b in zip(node.inputs, twin.inputs, strict=True):
            if a is not None and a.data is not None:
                np.testing.assert_array_equal(a.data, b.data)


def test_digits_int8_with_reconstruct_loses_at_most_half_a_point(tmp_path):
    quantization = digits_int8_report(tmp_path, "--reconstruct")["quantization"]
    assert quantization["reconstruction"]["enabled"] and quantization["reconstruction"]["layers"] > 0
    assert quantization["calibration"]["reconstruct"] == "gptq"
    metrics = quantization["metrics"]["outputs"]["logits"]
    assert metrics["reference_accuracy"] - metrics["accuracy"] <= 0.5


@pytest.mark.parametrize(
    ("scheme", "flags", "expected"),
    [
        (TENSORRT_SCHEME, {}, ("gptq", True)),
        (TFLITE_SCHEME, {}, ("gptq", True)),
        (SNPE_SCHEME, {}, ("off", True)),
        (TFLITE_SCHEME, {"reconstruct": "off"}, ("off", True)),
        (TENSORRT_SCHEME, {"reconstruct": "adaround"}, ("adaround", True)),
        (TENSORRT_SCHEME, {"bias_correction": False}, ("gptq", False)),
    ],
)
def test_gptq_is_the_default_where_the_artifact_keeps_edgecs_weights(scheme, flags, expected):
    """(reconstruct, bias correction): GPTQ where edgec's int8 weights ship (TFLite: as q * scale,
    which the converter rounds back to q), bias correction always."""
    assert QuantizationOptions(**flags).resolved_rounding(scheme) == expected
