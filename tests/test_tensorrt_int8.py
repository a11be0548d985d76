"""INT8 for the Jetson targets: Q/DQ ONNX, calibration cache, accuracy on natural images.

Each real model is calibrated once (the quantization step of ``edgec build``
with an .npz of photograph crops or text lines as --calibration-data); the TensorRT scheme
is the same for every target, so the result is emitted for every Jetson
target that allows int8. Accuracy is measured on inputs calibration never
saw (tests/natural_inputs.py): crops of other photographs, and text lines
of other words for the OCR classifier.
"""

from __future__ import annotations

import json
import py_compile
from pathlib import Path

import numpy as np
import onnx
import pytest
from natural_inputs import (
    CALIBRATION_PHOTOS,
    CALIBRATION_WORDS,
    PREPROCESS,
    TEST_PHOTOS,
    TEST_WORDS,
    calibration_inputs,
    crop_pixels,
    held_out_inputs,
)
from onnx import numpy_helper
from tensorrt_helpers import JETSONS, MODELS, cleaned, emit, hostile_model, shellcheck

from edgec.backends.tensorrt import BACKEND
from edgec.backends.tensorrt.calibration_cache import parse_cache
from edgec.backends.tensorrt.stack import Stack
from edgec.cli import main
from edgec.data.datasets import load_dataset
from edgec.ir.onnx_export import to_onnx
from edgec.quantization import compare_outputs
from edgec.quantization.build import Datasets, QuantizationOptions, quantize_for_build
from edgec.runtime import run, session

INT8_TARGETS = [t.name for t in JETSONS if "int8" in t.precisions]
CALIBRATION_COUNT = {"efficientnet_lite0.onnx": 64, "ppocr_mobile_v2_cls.onnx": 16, "yolox_det.onnx": 8}
TEST_COUNT = {"efficientnet_lite0.onnx": 128, "ppocr_mobile_v2_cls.onnx": 32, "yolox_det.onnx": 4}


# Models calibrated from image files with --preprocess, as a user calibrates an ImageNet classifier
# (this is what puts its input on the pixel grid, edgec.quantization.pixel_input); the others read
# inputs no image file holds (the text lines' padding, YOLOX's slices), so they get an .npz.
IMAGE_PREPROCESS = {"efficientnet_lite0.onnx": "scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225"}


def calibration_options(folder: Path, model: str) -> QuantizationOptions:
    count = CALIBRATION_COUNT[model]
    if model in IMAGE_PREPROCESS:
        images = folder / Path(model).stem
        images.mkdir()
        for index, image in enumerate(crop_pixels(model, CALIBRATION_PHOTOS, count, seed=0)):
            image.save(images / f"{index:03d}.png")
        return QuantizationOptions(calibration_data=images, preprocess=IMAGE_PREPROCESS[model])
    path = folder / f"{Path(model).stem}.npz"
    np.savez(path, **{PREPROCESS[model][0]: calibration_inputs(model, count)[:, None]})
    return QuantizationOptions(calibration_data=path)


@pytest.fixture(scope="module")
def quantized(shared_models, tmp_path_factory):
    """model -> (float graph after quantization, QuantizationResult), as `edgec build` makes them."""
    folder = tmp_path_factory.mktemp("calibration")
    target = next(t for t in JETSONS if t.name == INT8_TARGETS[0])
    found = {}
    for model, shapes in MODELS.items():
        graph = cleaned(shared_models / model, shapes)
        options = calibration_options(folder, model)
        assert options.calibration_data is not None
        # All of it calibrates, nothing held out: these tests measure on their own held-out inputs.
        calibration = load_dataset(options.calibration_data, graph.inputs, options.preprocess_spec())
        data = Datasets(calibration, None)
        found[model] = (
            graph,
            quantize_for_build(graph, target, BACKEND, options, shared_models / model, data),
        )
    return found


@pytest.fixture(scope="module")
def bundles(quantized, tmp_path_factory):
    """(model, target) -> (bundle directory, artifact) for every int8 Jetson target."""
    found = {}
    for model, (graph, result) in quantized.items():
        for target in INT8_TARGETS:
            out = tmp_path_factory.mktemp(f"{Path(model).stem}-{target}")
            found[model, target] = (out, emit(graph, target, "int8", out, quantization=result))
    return found


@pytest.fixture(scope="module")
def held_out(shared_models):
    """model -> (test feeds calibration never saw, the input model's outputs)."""
    found = {}
    for model in MODELS:
        name = PREPROCESS[model][0]
        images = held_out_inputs(model, TEST_COUNT[model])
        sess = session(shared_models / model, threads=1)
        feeds = [{name: image[None]} for image in images]
        found[model] = (feeds, [run(sess, feed) for feed in feeds])
    return found


def test_calibration_and_test_inputs_are_disjoint():
    assert not set(CALIBRATION_PHOTOS) & set(TEST_PHOTOS)
    assert not set(CALIBRATION_WORDS) & set(TEST_WORDS)
    assert INT8_TARGETS == [
        "jetson-xavier-nx",
        "jetson-agx-xavier",
        "jetson-orin-nano",
        "jetson-orin-nx",
        "jetson-agx-orin",
    ]


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def output_channel_axis(model: onnx.ModelProto, weight: str) -> int:
    """Axis 0 of Conv and transposed Gemm weights, axis 1 of MatMul's and plain Gemm's [K, N]."""
    node = next(n for n in model.graph.node if weight in n.input[1:2])
    trans_b = {a.name: a.i for a in node.attribute}.get("transB", 0)
    return 0 if node.op_type == "Conv" or (node.op_type == "Gemm" and trans_b) else 1


@pytest.mark.parametrize("target", INT8_TARGETS)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_int8_bundle(model, target, bundles, quantized, held_out):
    out, artifact = bundles[model, target]
    stack = Stack.of(next(t for t in JETSONS if t.name == target))
    assert stack.explicit_int8
    qdq = onnx.load(out / "model.onnx")
    onnx.checker.check_model(qdq)
    assert qdq.opset_import[0].version == stack.max_opset >= 13
    onnx.checker.check_model(onnx.load(out / "model_fp32.onnx"))
    consts = initializers(qdq)
    quantize_nodes = [n for n in qdq.graph.node if n.op_type == "QuantizeLinear"]
    weights = [n for n in qdq.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts]
    assert quantize_nodes and weights
    for node in quantize_nodes + weights:
        assert not np.any(consts[node.input[2]]) and consts[node.input[2]].dtype == np.int8
    for node in weights:
        axis = {a.name: a.i for a in node.attribute}.get("axis", 1)
        # Per output channel: axis 0 of Conv weights, axis 1 of MatMul's [K, N].
        assert axis == output_channel_axis(qdq, node.output[0]), node.name
        assert consts[node.input[1]].shape == (consts[node.input[0]].shape[axis],)
    assert artifact.report["int8"]["mode"] == "explicit Q/DQ"
    assert artifact.metadata["files"] == ["calibration.cache", "model.onnx", "model_fp32.onnx"]

    # The parser's opset spells the same computation as the engine's opset-21 Q/DQ graph.
    feed = held_out[model][0][0]
    at_21 = run(session(to_onnx(quantized[model][1].qdq), threads=1), feed)
    for name, value in artifact.runner(feed).items():
        np.testing.assert_allclose(value, at_21[name], rtol=1e-4, atol=1e-4)

    assert shellcheck(out / "build_engine.sh", out / "check_accuracy.sh").returncode == 0
    for script in ("build_engine.py", "infer.py", "device_check.py"):
        py_compile.compile(str(out / script), doraise=True)


def held_out_metrics(model: str, bundles, held_out):
    """The engine's metrics (report.json's) of the bundle's Q/DQ model against the input model."""
    _, artifact = bundles[model, INT8_TARGETS[0]]
    feeds, expected = held_out[model]
    outputs = [artifact.runner(feed) for feed in feeds]
    stacked = {name: np.stack([o[name] for o in outputs]) for name in expected[0]}
    reference = {name: np.stack([r[name] for r in expected]) for name in expected[0]}
    return compare_outputs(reference, stacked)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_qdq_model_agrees_with_the_input_model(model, bundles, held_out):
    metrics = held_out_metrics(model, bundles, held_out)
    for name, output in metrics.outputs.items():
        assert output.cosine >= 0.99, (name, output)


def test_efficientnet_top1_agreement(bundles, held_out, quantized):
    metrics = held_out_metrics("efficientnet_lite0.onnx", bundles, held_out)
    assert metrics.samples >= 100
    assert metrics.outputs["logits"].top1 >= 95.0
    # Calibrated from image files: its 33 ReLU6 outputs are centred, the 7 residual sums and projections
    # that only 1x1 Convs read get channel scales, and its input is on the pixel grid.
    result = quantized["efficientnet_lite0.onnx"][1]
    assert result.grids.report() == {
        "centred_activations": 33,
        "channel_scaled_activations": 7,
        "pixel_input": "pixels",
    }


@pytest.mark.parametrize("target", ["jetson-xavier-nx", "jetson-agx-orin"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_calibration_cache_round_trips(model, target, bundles):
    out, _ = bundles[model, target]
    cache = parse_cache((out / "calibration.cache").read_text(encoding="utf-8"))
    assert cache.version == Stack.of(next(t for t in JETSONS if t.name == target)).version_int
    assert cache.algorithm == "EntropyCalibration2"
    qdq = onnx.load(out / "model.onnx")
    consts = initializers(qdq)
    activations = [n for n in qdq.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in consts]
    assert activations
    for node in activations:
        scale = consts[node.input[1]]
        assert scale.shape == () and np.float32(cache.scales[node.input[0]]) == scale, node.input[0]
    float_model = onnx.load(out / "model_fp32.onnx")
    tensors = {i.name for i in float_model.graph.input} | {
        o for n in float_model.graph.node for o in n.output
    }
    assert set(cache.scales) <= tensors


def test_edgec_build_int8_with_calibration_data(shared_models, tmp_path):
    model = "ppocr_mobile_v2_cls.onnx"
    data = tmp_path / "calibration.npz"
    np.savez(data, x=calibration_inputs(model, 16)[:, None])
    out = tmp_path / "bundle"
    argv = ["build", str(shared_models / model), "-t", "jetson-orin-nano", "--precision", "int8"]
    argv += ["--input-shape", "x=1x3x48x192", "--calibration-data", str(data), "-o", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["passed"] and report["accuracy"]["outputs"]
    # 16 samples: the last 8 are held out (the simulation's validation data and the check's samples).
    assert report["quantization"]["calibration"]["samples"] == 8
    assert report["accuracy"]["judged"]["indices"] == {"first": 8, "last": 15}
    assert report["backend"]["int8"]["cache"]["header"] == "TRT-100300-EntropyCalibration2"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend_metadata"]["int8"] == {"explicit_qdq": True, "cache": "calibration.cache"}
    assert {"model.onnx", "model_fp32.onnx", "calibration.cache"} <= set(manifest["files"])
    script = (out / "build_engine.sh").read_text()
    assert "--stronglyTyped" in script and "calibration.cache" in script


def test_int8_with_hostile_names(tmp_path):
    model = hostile_model(tmp_path / "model.onnx")
    out = tmp_path / "bundle"
    assert main(["build", str(model), "-t", "jetson-xavier-nx", "--precision", "int8", "-o", str(out)]) == 0
    assert not (tmp_path / "pwned").exists()
    cache = parse_cache((out / "calibration.cache").read_text(encoding="utf-8"))
    assert any(name.startswith("in a b'c") for name in cache.scales)
    assert shellcheck(out / "build_engine.sh", out / "check_accuracy.sh").returncode == 0


def test_qdq_model_lowers_to_opset_13(quantized, held_out):
    """Per-channel Q/DQ needs opset 13 (``axis``); the downgrade keeps Q/DQ and its results."""
    _, result = quantized["ppocr_mobile_v2_cls.onnx"]
    lowered = to_onnx(result.qdq, opset=13)
    onnx.checker.check_model(lowered)
    assert lowered.opset_import[0].version == 13
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in lowered.graph.node}
    feed = held_out["ppocr_mobile_v2_cls.onnx"][0][0]
    expected = run(session(to_onnx(result.qdq), threads=1), feed)
    for name, value in run(session(lowered, threads=1), feed).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-4)
