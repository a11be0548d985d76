"""The quantization engine end to end on a CNN trained on scikit-learn's digits.

int8 costs at most half a point of accuracy; a budget the full-int8 model
misses is met by keeping the most sensitive layers in float, and report.json
names them; a budget nothing meets fails the build with exit code 7.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image
from quant_models import digits_onnx, predict, save_npz, train_digits

from edgec.backends.tensorrt.calibration_cache import cache_scales, parse_cache, version_int, write_cache
from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.cli import main
from edgec.frontend import load_model
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.quantization import METHODS, CalibrationConfig, load_dataset, parse_budget, quantize
from edgec.quantization.options import METHOD_CHOICES


@pytest.fixture(scope="module")
def digits():
    return train_digits()


@pytest.fixture(scope="module")
def files(digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    return {
        "model": digits_onnx(digits, folder / "digits.onnx"),
        "calibration": save_npz(folder / "calibration.npz", digits.x_train[:256]),
        "validation": save_npz(folder / "validation.npz", digits.x_test, digits.y_test),
        "unlabelled": save_npz(folder / "unlabelled.npz", digits.x_test[:64]),
    }


def build(files, out: Path, *extra: str) -> int:
    return main(
        [
            "build",
            str(files["model"]),
            "-t",
            "onnxruntime-cpu",
            "--precision",
            "int8",
            "-o",
            str(out),
            "--calibration-data",
            str(files["calibration"]),
            "--validation-data",
            str(files["validation"]),
            *extra,
        ]
    )


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_int8_loses_at_most_half_a_point_of_accuracy(digits, files):
    float_accuracy = 100 * np.mean(predict(digits.weights, digits.x_test).argmax(axis=1) == digits.y_test)
    assert float_accuracy > 95
    graph = load_model(files["model"], {})
    run_passes(graph, [make_spec("cleanup")])
    calibration = load_dataset(files["calibration"], graph.inputs)
    validation = load_dataset(files["validation"], graph.inputs, purpose="validation")
    result = quantize(graph, calibration, validation, CalibrationConfig(method="percentile"))
    metrics = result.metrics.outputs["logits"]
    assert metrics.reference_accuracy == pytest.approx(float_accuracy, abs=1e-9)
    assert metrics.reference_accuracy - metrics.accuracy <= 0.5
    assert metrics.top1 >= 98 and metrics.snr_db > 25
    cache = parse_cache(write_cache(cache_scales(result.qdq), version_int("10.3.0")))
    assert cache.version == 100300
    for node in result.qdq.nodes_of(Op.QUANTIZE_LINEAR):
        assert np.float32(cache.scales[node.inputs[0].name]) == node.inputs[1].data


def test_int8_build_ships_the_qdq_model_and_reports_the_simulation(files, tmp_path):
    out = tmp_path / "bundle"
    assert build(files, out) == 0
    quantization = report(out)["quantization"]
    metrics = quantization["metrics"]["outputs"]["logits"]
    assert metrics["reference_accuracy"] - metrics["accuracy"] <= 0.5
    assert quantization["validation"] == {"source": "validation.npz", "samples": 360}
    assert quantization["calibration"]["method"] == "percentile" and quantization["float_layers"] == []
    # onnxruntime keeps edgec's int8 weights: GPTQ rounding by default, and bias correction after it.
    assert quantization["reconstruction"]["enabled"] and quantization["bias_correction"]["enabled"]
    model = onnx.load(out / "model.onnx")
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(init.data_type == onnx.TensorProto.INT8 for init in model.graph.initializer)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["precision"] == "int8" and manifest["quantization"]["method"] == "percentile"
    assert manifest["inputs"][0]["quantization"] is None  # float I/O: the artifact quantizes inside
    again = tmp_path / "again"
    assert build(files, again) == 0
    assert (again / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_mixed_precision_meets_a_budget_full_int8_misses(files, tmp_path):
    assert build(files, tmp_path / "int8") == 0
    full = report(tmp_path / "int8")["quantization"]["metrics"]["outputs"]["logits"]["snr_db"]
    budget = f"snr={full + 2:.2f}"
    out = tmp_path / "mixed"
    assert build(files, out, "--max-accuracy-drop", budget, "--max-accuracy-drop", "accuracy=0.5") == 0
    quantization = report(out)["quantization"]
    floats = [entry["layer"] for entry in quantization["float_layers"]]
    assert floats and all(entry["precision"] == "fp32" for entry in quantization["float_layers"])
    assert quantization["metrics"]["outputs"]["logits"]["snr_db"] >= full + 2
    assert all(entry["met"] for entry in quantization["budgets"])
    table = quantization["sensitivity"]
    assert len(table) == quantization["quantized_layers"] + len(floats)
    assert [row["layer"] for row in table[: len(floats)]] == floats  # most sensitive first
    assert [row["snr_db"] for row in table] == sorted(row["snr_db"] for row in table)
    readme = (out / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in floats)
    assert json.loads((out / "manifest.json").read_text())["quantization"]["float_layers"] == floats


def test_a_budget_nothing_meets_fails_with_exit_code_7(files, tmp_path, capsys):
    out = tmp_path / "never"
    assert build(files, out, "--max-accuracy-drop", "snr=200") == 7
    err = capsys.readouterr().err
    assert "misses the accuracy budget" in err and "snr" in err and "kept in fp32" in err
    assert not out.exists()


def test_budget_errors_exit_2(files, tmp_path, capsys):
    assert build(files, tmp_path / "a", "--max-accuracy-drop", "top7=1") == 2
    assert "METRIC=VALUE" in capsys.readouterr().err
    unlabelled = ["--validation-data", str(files["unlabelled"]), "--max-accuracy-drop", "accuracy=1"]
    assert build(files, tmp_path / "b", *unlabelled) == 2
    assert "has no labels" in capsys.readouterr().err


def test_too_few_calibration_samples_exit_2(files, tmp_path, capsys):
    assert build(files, tmp_path / "c", "--calibration-samples", "1000") == 2
    assert "fewer than the 1000 asked for" in capsys.readouterr().err


def test_image_calibration_records_the_preprocessing(digits, files, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(digits.x_train[:40, 0]):
        Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(folder / f"{i:03d}.png")
    out = tmp_path / "bundle"
    spec = "color=gray,scale=1/255"
    argv = ["--calibration-data", str(folder), "--preprocess", spec, "--calibration-method", "minmax"]
    assert build(files, out, *argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["preprocess"]["spec"].startswith("resize=8x8,")
    assert manifest["preprocess"]["color"] == "gray" and manifest["preprocess"]["layout"] == "nchw"
    assert manifest["preprocess"]["spec"] in (out / "README.md").read_text()
    assert report(out)["quantization"]["calibration"]["samples"] == 40
    # The onnxruntime scheme is symmetric: the 8-bit grey input is quantized on its pixel grid.
    assert manifest["quantization"]["int8_grid"]["pixel_input"] == "pixels"


def test_cli_methods_are_the_engines():
    assert METHOD_CHOICES == METHODS


def test_sensitivity_and_mixed_precision_with_the_asymmetric_tflite_scheme(digits, files):
    """Every layer quantized alone, then float fallback, with asymmetric activations on every tensor."""
    graph = load_model(files["model"], {})
    run_passes(graph, [make_spec("cleanup")])
    calibration = load_dataset(files["calibration"], graph.inputs)
    validation = load_dataset(files["validation"], graph.inputs, purpose="validation")
    full = quantize(graph, calibration, validation, CalibrationConfig(method="minmax"), TFLITE_SCHEME)
    snr = full.metrics.outputs["logits"].snr_db
    budget = parse_budget(f"snr={snr + 1:.2f}")
    result = quantize(
        graph, calibration, validation, CalibrationConfig(method="minmax"), TFLITE_SCHEME, [budget]
    )
    assert result.float_layers
    assert result.metrics.outputs["logits"].snr_db >= snr + 1
