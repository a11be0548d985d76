"""--max-accuracy-drop bounds the compression passes: the engine's budgets, exit 7, the sensitivity choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compression_models import build_argv, digits_cnn, write_digits_model

from edgec.budget import Budget
from edgec.cli import main
from edgec.compression.budget_checks import parse_budgets, within
from edgec.errors import UsageError


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """The digits CNN, 1024 unlabelled training images for the passes (a top-1 budget of 2 points needs a
    few hundred samples to be certified), the labelled test set for the metrics."""
    tmp = tmp_path_factory.mktemp("digits")
    digits = digits_cnn()
    model = write_digits_model(digits, tmp / "digits.onnx")
    np.savez(tmp / "samples.npz", image=digits.x_train[:1024, None])
    np.savez(tmp / "validation.npz", image=digits.x_test[:, None], labels=digits.y_test)
    return model, tmp / "samples.npz", tmp / "validation.npz"


def _build(digits_files, out, *flags):
    model, samples, validation = digits_files
    return main([*build_argv(model, out, samples), "--validation-data", str(validation), *flags])


def test_a_pass_that_misses_the_budget_fails_the_build_with_exit_7(digits_files, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert _build(digits_files, out, "--prune", "0.95", "--max-accuracy-drop", "accuracy=2") == 7
    error = capsys.readouterr().err
    assert "after compression pass 'prune'" in error and "(budget <= 2)" in error
    assert not out.exists()


def test_sensitivity_mode_chooses_under_the_budget_and_the_report_holds_it(digits_files, tmp_path):
    out = tmp_path / "bundle"
    assert _build(digits_files, out, "--prune", "0.95:sensitivity", "--max-accuracy-drop", "accuracy=2") == 0
    report = json.loads((out / "report.json").read_text())["compression"]
    (prune,) = report["passes"]
    assert report["budgets"] == ["accuracy=2"] and prune["budgets"][0]["met"]
    logits = prune["after"]["metrics"]["outputs"]["logits"]
    assert logits["reference_accuracy"] - logits["accuracy"] <= 2
    assert prune["after"]["density"] < 0.3 and prune["after"]["sparsity"] == 1 - prune["after"]["density"]
    calibration = prune["after"]["calibration_metrics"]["outputs"]["logits"]
    assert report["calibration_samples"] == 1024 and calibration["top1"] >= 100 - 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["passes"][1]["options"]["budget"] == "top1=2"  # accuracy held by its bound


def test_every_pass_is_checked_against_the_input_model(digits_files, tmp_path, capsys):
    flags = ["--prune", "0.3", "--cluster", "2", "--max-accuracy-drop", "top1=1"]  # two values: -1.8 points
    assert _build(digits_files, tmp_path / "bundle", *flags) == 7
    assert "after compression pass 'cluster'" in capsys.readouterr().err


def test_an_accuracy_budget_needs_labels(digits_files, tmp_path, capsys):
    model, samples, _ = digits_files
    argv = build_argv(model, tmp_path / "b", samples)
    assert main([*argv, "--prune", "0.5", "--max-accuracy-drop", "accuracy=1"]) == 2
    assert "cannot be measured" in capsys.readouterr().err


def test_pass_budgets_parse_like_the_flag_and_hold_accuracy_as_top1():
    assert parse_budgets("accuracy=1, cosine=0.01") == (Budget("top1", 1.0), Budget("cosine", 0.01))
    with pytest.raises(UsageError, match="METRIC=VALUE"):
        parse_budgets("speed=3")
    reference = [{"y": np.array([[0.0, 1.0]])}, {"y": np.array([[1.0, 0.0]])}]
    flipped = [{"y": np.array([[0.0, 1.0]])}, {"y": np.array([[0.0, 1.0]])}]
    assert within(parse_budgets("top1=50"), reference, flipped)
    assert not within(parse_budgets("top1=49"), reference, flipped)


def test_deep_compression_then_int8_calibrates_the_passes_on_the_calibration_data(tmp_path):
    digits = digits_cnn()
    model = write_digits_model(digits, tmp_path / "digits.onnx")
    np.savez(tmp_path / "train.npz", image=digits.x_train[:, None], labels=digits.y_train)
    np.savez(tmp_path / "validation.npz", image=digits.x_test[:, None], labels=digits.y_test)
    out = tmp_path / "bundle"
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out), "--precision", "int8"]
    data = ["--calibration-data", str(tmp_path / "train.npz"), "--calibration-samples", "1024"]
    data += ["--validation-data", str(tmp_path / "validation.npz"), "--max-accuracy-drop", "accuracy=1"]
    assert main([*argv, *data, "--prune", "0.8:global", "--cluster", "16"]) == 0
    report = json.loads((out / "report.json").read_text())
    cluster = report["compression"]["passes"][-1]
    assert cluster["budgets"][0]["met"] and cluster["after"]["density"] < 0.21
    assert report["compression"]["storage"]["ratio"] > 10
    assert report["quantization"]["budgets"][0]["met"]
    prune = json.loads((out / "manifest.json").read_text())["passes"][1]
    assert prune["options"]["calibration"].endswith("train.npz") and prune["options"]["samples"] == 1024
