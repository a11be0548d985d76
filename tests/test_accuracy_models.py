"""The accuracy check's default int8 gate on a real model: a healthy EfficientNet-Lite0 build passes.

Calibrated on crops of some photographs (64, of which the last 13 are held out as the
simulation's validation data), judged on crops of other photographs (tests/natural_inputs.py);
the thresholds were fixed before this test ran (edgec.accuracy.DEFAULT_THRESHOLDS).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from natural_inputs import calibration_inputs, held_out_inputs

from edgec.cli import main

MODEL = "efficientnet_lite0.onnx"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("effnet")
    np.savez(folder / "calibration.npz", input=calibration_inputs(MODEL, 64)[:, None])
    np.savez(folder / "check.npz", input=held_out_inputs(MODEL, 32)[:, None])
    return folder


@pytest.mark.parametrize("target", ["rpi4", "jetson-agx-orin"])
def test_healthy_int8_efficientnet_passes_by_default(shared_models, data, tmp_path, target):
    out = tmp_path / "b"
    argv = ["build", str(shared_models / MODEL), "-t", target, "--precision", "int8", "-o", str(out)]
    argv += ["--calibration-data", str(data / "calibration.npz"), "--sample-data", str(data / "check.npz")]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    accuracy = report["accuracy"]
    assert accuracy["passed"] and accuracy["judged"] == {
        "source": "check.npz",
        "count": 32,
        "indices": {"first": 0, "last": 31},
    }
    assert accuracy["calibrated"]["count"] == 51 and accuracy["calibrated"]["indices"] == {
        "first": 0,
        "last": 50,
    }
    assert report["quantization"]["validation"]["samples"] == 13
    logits = next(iter(accuracy["outputs"].values()))
    assert logits["top1"] is not None and logits["top5"] is not None
