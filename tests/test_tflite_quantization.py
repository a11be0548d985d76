"""The TFLite backend consumes the quantization engine: one calibration, the same scales everywhere.

The PaddleOCR classifier (small, fast to convert) is calibrated once
(``collect_statistics``); its TensorRT Q/DQ model, TensorRT calibration cache
and TFLite int8 model are all made from those statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from edgec.backends.tensorrt.calibration_cache import cache_scales, parse_cache, version_int, write_cache
from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tflite.backend import BACKEND
from edgec.backends.tflite.converter import Recipe, convert
from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.lowering import scope_of_tensor
from edgec.backends.tflite.quantization import (
    TFLITE_SCHEME,
    activation_scales,
    engine_params,
    fake_quant_ranges,
    with_rounded_weights,
)
from edgec.backends.tflite.representative_data import dataset_feeds
from edgec.frontend import load_model
from edgec.ir import Graph, Op
from edgec.passes import make_spec, run_passes
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    Statistics,
    calibrate,
    collect_statistics,
    gptq_rounding,
    quantize_qdq,
)
from edgec.quantization.build import backend_scheme
from edgec.targets import load_catalogue

PPOCR_SHAPE = {"x": (1, 3, 48, 192)}
MINMAX = CalibrationConfig(method="minmax", bias_correction=False)


@pytest.fixture(scope="module")
def ppocr(shared_models) -> tuple[Graph, Statistics]:
    graph = load_model(shared_models / "ppocr_mobile_v2_cls.onnx", PPOCR_SHAPE, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("unfuse-activation"), make_spec("layout")])
    return graph, collect_statistics(graph, _uniform(), histograms=False)


def _uniform() -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset({"x": rng.uniform(-1.0, 1.0, (8, 1, 3, 48, 192)).astype(np.float32)}, "uniform")


def _qdq_scales(qdq: Graph) -> dict[str, float]:
    """Activation name -> the scale of the QuantizeLinear that reads it in the Q/DQ model."""
    return {
        node.inputs[0].name: float(node.inputs[1].data)
        for node in qdq.nodes_of(Op.QUANTIZE_LINEAR)
        if node.inputs[0] is not None and not node.inputs[0].is_constant
    }


def test_one_calibration_gives_the_same_scales_in_qdq_cache_and_tflite(ppocr):
    """Tensor by tensor, from one set of statistics (minmax, so both schemes read the same min/max):

    - TensorRT Q/DQ model vs TensorRT calibration cache: bit-identical float32 scales;
    - TFLite int8 model vs the engine's TFLite-scheme parameters: the same scale (float32
      rounding) and zero point on every activation tensor the .tflite has (every Conv and Gemm
      output among them), except where TFLite fixes the parameters itself (softmax, max pooling,
      reshapes: ``TFLITE_DECIDES``);
    - TensorRT vs TFLite: TensorRT is symmetric (scale = amax / 127, zero point 0) and TFLite
      asymmetric (scale = (max - min) / 255 with a zero point), so their scales differ by
      design; what they share is the range, so each TensorRT scale is max(|min|, |max|) / 127 of
      the very range TFLite's parameters were made from.
    """
    graph, statistics = ppocr
    calibrate(graph, statistics, MINMAX, TENSORRT_SCHEME)
    qdq = quantize_qdq(graph, TENSORRT_SCHEME.placement)
    qdq_scales = _qdq_scales(qdq)
    cache = parse_cache(write_cache(cache_scales(qdq), version_int("10.3.0")))
    assert qdq_scales and all(cache.scales[name] == scale for name, scale in qdq_scales.items())

    tflite = calibrate(graph, statistics, MINMAX, TFLITE_SCHEME)
    ranges = fake_quant_ranges(graph, tflite)
    scales = activation_scales(convert(graph, Recipe("int8"), None, "test", ranges), graph)
    compared = set(ranges) & set(scales)
    assert {node.output.name for node in graph.nodes_of(Op.CONV, Op.GEMM)} <= compared
    for name in compared:
        scale, zero_point = scales[name]
        expected = engine_params(tflite, name)
        assert scale == pytest.approx(float(expected.scale), rel=1e-6), name
        assert zero_point == int(expected.zero_point), name

    for name, scale in qdq_scales.items():
        low, high = tflite.ranges[name]
        assert scale == pytest.approx(max(abs(low), abs(high)) / 127, rel=1e-6), name


@pytest.mark.parametrize("kept_index", [0, 3])
def test_float_layers_stay_float_in_the_tflite(ppocr, kept_index):
    """As the backend calls the converter: with the representative data beside the ranges. The first
    conv reads the graph input, which has a range only if some int8 layer reads it too (before: the
    converter calibrated that input from the representative data and quantized the conv after all)."""
    graph, statistics = ppocr
    tflite = calibrate(graph, statistics, MINMAX, TFLITE_SCHEME)
    kept = graph.nodes_of(Op.CONV)[kept_index]
    ranges = fake_quant_ranges(graph, tflite)
    feeds = dataset_feeds(graph, _uniform())
    model = read_model(convert(graph, Recipe("int8"), lambda: feeds, "test", ranges, [kept.name]))
    convs = [op for op in model.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    float_convs = [op for op in convs if model.tensors[op.inputs[1]].dtype == "float32"]
    assert len(float_convs) == 1 and len(convs) == len(graph.nodes_of(Op.CONV))


def test_integer_only_targets_get_no_float_layers():
    catalogue = load_catalogue()
    for name in ("coral-edgetpu", "rpi4"):
        target = catalogue.select(name)
        scheme = backend_scheme(BACKEND, target)
        assert not scheme.symmetric and scheme.placement == "all"
        integer_only = bool(target.hardware.get("integer_only", False))
        assert (scheme.float_fallback is None) == integer_only, name


def _tflite_weights(model: bytes, graph: Graph) -> dict[str, np.ndarray]:
    """Layer name -> the per-channel int8 weights of a .tflite made from ``graph``, in the weight's
    own (IR) layout."""
    interpreter = Interpreter(model_content=model)
    weights = {}
    for detail in interpreter.get_tensor_details():
        scope = scope_of_tensor(detail["name"])
        per_channel = len(detail["quantization_parameters"]["scales"]) > 1
        if scope is None or scope[0] != "n" or not per_channel or detail["dtype"] != np.int8:
            continue
        node, data = graph.nodes[scope[1]], interpreter.get_tensor(detail["index"])
        if node.op is Op.GEMM:
            weights[node.name] = data if node.attrs["transB"] else data.T
        elif node.attrs["group"] == 1:
            weights[node.name] = data.transpose(0, 3, 1, 2)  # OHWI -> OIHW
        else:
            weights[node.name] = data.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
    return weights


def test_gptq_weights_reach_the_tflite_unchanged(ppocr):
    """With ``q * scale`` as weights, the converter's per-channel rounding (scale = max|w| / 127)
    gives back the GPTQ integers ``q`` in every channel that keeps a +-127 entry."""
    graph, statistics = ppocr
    tflite = calibrate(graph, statistics, MINMAX, TFLITE_SCHEME)
    rounded = gptq_rounding(graph, _uniform())
    assert rounded
    converted = with_rounded_weights(graph, rounded)
    model = convert(converted, Recipe("int8"), None, "test", fake_quant_ranges(graph, tflite))
    weights = _tflite_weights(model, graph)
    assert set(rounded) <= set(weights)
    checked = 0
    for name, ints in rounded.items():
        rows = ints.reshape(ints.shape[0], -1)
        full = np.abs(rows).max(axis=1) == 127
        np.testing.assert_array_equal(weights[name].reshape(rows.shape)[full], rows[full], err_msg=name)
        checked += int(full.sum())
    assert checked > 0.9 * sum(ints.shape[0] for ints in rounded.values())
