"""An 8-bit image input on its pixel grid: exact symmetric int8 for the first Conv."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from helpers import Builder, ops
from PIL import Image

from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.ir import Graph, Op, verify
from edgec.quantization import CalibrationConfig, Dataset, parse_preprocess, quantize, run_dataset
from edgec.quantization.pixel_input import align_input_to_pixels, pixel_params
from edgec.quantization.qdq import clone_graph
from edgec.quantization.scheme import dequantize_array, quantize_array
from edgec.runtime import run_graph

SPEC = "scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw"
RELU6 = {"activation": Op.CLIP, "activation_attrs": {"min": 0.0, "max": 6.0}}


def _stem_model(second_reader: bool = False) -> Graph:
    """A stride-2 3x3 stem with TF-same padding (bottom/right only) and ReLU6, then a 1x1 conv;
    with ``second_reader``, another conv reads the input too."""
    b = Builder("stem")
    x = b.input("x", (1, 3, 16, 16))
    stem = b.conv(x, 8, strides=[2, 2], pads=[0, 0, 1, 1], name="stem", **RELU6)
    stem.shape = (1, 8, 8, 8)
    outputs = [b.conv(stem, 4, kernel=1, name="out")]
    if second_reader:
        outputs.append(b.conv(x, 2, name="second"))
    return b.output(*outputs)


def _pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)


def _images(graph: Graph, pixels: np.ndarray) -> Dataset:
    (x,) = graph.inputs
    spec = parse_preprocess(SPEC).for_input(x)
    arrays = np.stack([spec.apply(Image.fromarray(p)) for p in pixels])[:, None]
    return Dataset({x.name: arrays}, "images", preprocess=spec)


def test_the_first_conv_reads_pixels_exactly_and_computes_the_same():
    graph = _stem_model()
    before = clone_graph(graph)
    pixels = _pixels(4, 0)
    data = _images(graph, pixels)
    fixed = align_input_to_pixels(graph, data.preprocess)
    verify(graph)
    assert list(fixed) == ["pixels"] and ops(graph)[:3] == ["Pad", "Mul", "Add"]
    assert graph.node_by_name("stem").attrs["pads"] == [0, 0, 0, 0]
    np.testing.assert_allclose(
        run_dataset(graph, data)["out"], run_dataset(before, data)["out"], rtol=1e-5, atol=1e-4
    )
    for index, sample in enumerate(data.samples()):
        u = run_graph(graph, sample, extra_outputs=["pixels"])["pixels"][0]
        expected = (pixels[index].transpose(2, 0, 1).astype(np.float32) - 128) / 128
        np.testing.assert_allclose(u[:, :16, :16], expected, atol=1e-5)
        # int8 with the fixed scale 1/128 loses nothing: q = p - 128.
        ints = quantize_array(u, fixed["pixels"])
        np.testing.assert_array_equal(
            ints[:, :16, :16], pixels[index].transpose(2, 0, 1).astype(np.int16) - 128
        )
        np.testing.assert_allclose(dequantize_array(ints, pixel_params())[:, :16, :16], expected, atol=1e-6)
        # The padded border stands for x = 0, i.e. the mean pixel (255 * mean, rounded by int8).
        border = ints[:, 16, 0].astype(np.int16) + 128
        np.testing.assert_array_equal(border, np.round(255 * np.array([0.485, 0.456, 0.406])))


def test_only_nchw_image_inputs_read_by_one_conv_change():
    graph = _stem_model()
    spec = _images(graph, _pixels(1, 1)).preprocess
    assert align_input_to_pixels(graph, None) == {}
    assert align_input_to_pixels(graph, replace(spec, layout="nhwc")) == {}
    shared = _stem_model(second_reader=True)
    assert align_input_to_pixels(shared, spec) == {}
    assert "Pad" not in ops(graph) + ops(shared)


def test_the_engine_fixes_the_input_scale_for_tensorrt_and_leaves_tflite_alone():
    results = {}
    for name, scheme in (("tensorrt", TENSORRT_SCHEME), ("tflite", TFLITE_SCHEME)):
        graph = _stem_model()
        calibration = _images(graph, _pixels(16, 2))
        results[name] = quantize(graph, calibration, None, CalibrationConfig(method="minmax"), scheme)
    trt, tflite = results["tensorrt"], results["tflite"]
    assert trt.grids.report() == {
        "centred_activations": 1,
        "channel_scaled_activations": 0,
        "pixel_input": "pixels",
    }
    assert trt.report()["int8_grid"] == trt.grids.report()
    scales = {
        node.inputs[0].name: float(node.inputs[1].data) for node in trt.qdq.nodes_of(Op.QUANTIZE_LINEAR)
    }
    assert scales["pixels"] == np.float32(1 / 128)
    assert scales["stem"] == np.float32(3 / 127)  # the centred ReLU6: [-3, 3]
    assert tflite.grids.report() == {
        "centred_activations": 0,
        "channel_scaled_activations": 0,
        "pixel_input": None,
    }
    assert "Pad" not in ops(tflite.qdq)
