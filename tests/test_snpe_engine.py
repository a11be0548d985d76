"""SNPE bundles from the quantization engine: B3 in SNPE_SCHEME; calibration files and overrides match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from edgec.backends.snpe import encodings, simulate
from edgec.backends.snpe.encodings import SNPE_SCHEME
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.pipeline import BuildOptions, build
from edgec.quantization import CalibrationConfig, calibrate, load_dataset, parse_preprocess
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.options import DEFAULT_METHOD
from edgec.quantization.scheme import asymmetric_params

PREPROCESS = "resize=8x8,scale=1/255,mean=0.5,0.5,0.5,std=0.25,0.25,0.25,layout=nchw,color=rgb"
IMAGES = 12


def _uint8(low: float, high: float):
    return asymmetric_params(low, high, "uint8", SNPE_SCHEME.min_range)


def test_snpe_scheme_reproduces_the_reference_example():
    entry = encodings.activation_encoding(_uint8(-1.8, 0.5))
    assert (entry["min"], entry["max"], entry["scale"]) == pytest.approx(
        (-1.803922, 0.496078, 0.009020), abs=1e-6
    )
    assert entry["offset"] == -200 and entry["bitwidth"] == 8 and entry["is_symmetric"] == "False"


@pytest.mark.parametrize(
    ("lo", "hi"), [(0.0, 0.0), (0.3, 0.3), (-5.0, -4.0), (2.0, 7.5), (-1e-5, 1e-5), (-1.8, 0.5)]
)
def test_snpe_scheme_matches_the_b3_encoding(lo, hi):
    params, expected = _uint8(lo, hi), simulate.encoding(lo, hi)
    assert int(params.zero_point) == expected.offset
    assert float(params.scale) == pytest.approx(expected.scale, rel=1e-6)
    entry = encodings.activation_encoding(params)
    assert entry["max"] - entry["min"] >= simulate.MIN_RANGE * (1 - 1e-6)
    assert -entry["min"] / entry["scale"] == pytest.approx(-entry["offset"])  # 0.0 exactly on the grid


def _model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])],
        initializer=inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


@pytest.fixture(scope="module")
def engine_bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    images = tmp / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for index in range(IMAGES):
        pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{index:02d}.png")
    model = _model(tmp / "m.onnx")
    options = QuantizationOptions(calibration_data=images, preprocess=PREPROCESS)
    bundle = build(
        BuildOptions(model=model, target="snapdragon-888-htp", output=tmp / "b", quantization=options)
    ).bundle
    graph = load_model(model, {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("snpe-ready")])
    dataset = load_dataset(images, graph.inputs, parse_preprocess(PREPROCESS))
    calibration = calibrate(graph, dataset, CalibrationConfig(method=DEFAULT_METHOD), SNPE_SCHEME)
    return bundle, dataset, calibration


def test_raw_calibration_files_are_the_engines_calibration_samples(engine_bundle):
    bundle, dataset, _ = engine_bundle
    lines = (bundle / "input_list.txt").read_text().splitlines()
    assert len(lines) == len(dataset) == IMAGES
    for index, rel in enumerate(lines):
        raw = np.fromfile(bundle / rel, dtype=np.float32)
        expected = dataset.arrays["image"][index].transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(raw.reshape(expected.shape), expected)
    report = json.loads((bundle / "report.json").read_text())
    assert report["backend"]["simulated_quantization"]["calibration_samples"] == IMAGES
    assert report["quantization"]["calibration"]["samples"] == IMAGES


def test_overrides_hold_the_engines_ranges_in_snpe_encoding(engine_bundle):
    bundle, _, calibration = engine_bundle
    overrides = json.loads((bundle / encodings.OVERRIDES_FILE).read_text())
    activations = overrides["activation_encodings"]
    assert set(activations) == set(calibration.ranges) and "image" in activations
    for name, (low, high) in calibration.ranges.items():
        params = _uint8(low, high)
        (entry,) = activations[name]
        assert entry["offset"] == -int(params.zero_point)
        assert entry["scale"] == pytest.approx(float(params.scale), rel=1e-7)
        # B3: the range holds 0.0, is at least 0.01 wide, shifts < a step so 0.0 is on the grid.
        lo = min(low, 0.0)
        hi = max(high, 0.0, lo + simulate.MIN_RANGE)
        assert abs(entry["min"] - lo) < entry["scale"] and abs(entry["max"] - hi) < entry["scale"]
    model_weights = {
        i.name: numpy_helper.to_array(i) for i in onnx.load(bundle / "model.onnx").graph.initializer
    }
    params = overrides["param_encodings"]
    assert len(params) == 2
    for name, entries in params.items():
        weight = model_weights[name]
        assert len(entries) == weight.shape[0]  # Conv [out, ...], Gemm transB=1 [out, in]
        amax = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
        np.testing.assert_allclose([e["scale"] for e in entries], amax / 127, rtol=1e-6)
        assert {e["offset"] for e in entries} == {-128} and {e["is_symmetric"] for e in entries} == {"True"}


def test_readme_says_the_sdk_reads_the_overrides(engine_bundle):
    readme = (engine_bundle[0] / "README.md").read_text()
    assert encodings.OVERRIDES_FILE in readme and "--quantization_overrides" in readme
    assert "only the SDK can check it" in readme
