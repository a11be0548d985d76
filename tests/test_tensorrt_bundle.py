"""`edgec build` for a Jetson target end to end: report.json, manifest, README, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

from release_helpers import bundle_bytes

from edgec.cli import main

EXAMPLE = Path(__file__).parent / "data" / "ppocr_mobile_v2_cls.onnx"


def build(out: Path, *extra: str) -> int:
    return main(
        ["build", str(EXAMPLE), "-o", str(out), "--input-shape", "x=1x3x48x192", "--samples", "2", *extra]
    )


def test_fp16_bundle_records_checks_and_compatibility(tmp_path):
    out = tmp_path / "b"
    assert build(out, "-t", "jetson-orin-nx", "--precision", "fp16", "--dla-core", "0") == 0
    report = json.loads((out / "report.json").read_text())
    accuracy = report["accuracy"]
    assert accuracy["passed"] and list(accuracy["thresholds"].values()) == [{"cosine": 0.999, "snr": 25.0}]
    backend = report["backend"]
    assert backend["opset"] == 20
    assert backend["fp16_overflow"] == {
        "limit": 65504.0,
        "weights": [],
        "activations": [],
        "activation_samples": 2,
    }
    assert backend["dla"]["default_core"] == 0 and backend["dla"]["estimated_gpu_layers"]
    assert any("check_accuracy.sh" in check for check in backend["device_checks"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend_metadata"]["compatibility"] == {
        "module": "Jetson Orin NX",
        "compute_capability": "8.7",
        "tensorrt": "10.3",
        "jetpack": "6.2",
        "l4t": "R36",
        "cuda": "12.6",
    }
    assert set(manifest["files"]) >= {"model.onnx", "build_engine.sh", "build_engine.py", "infer.py"}
    readme = (out / "README.md").read_text()
    assert "fp16" in readme and "Only the Jetson can check" in readme and "--dla-core N" in readme
    assert "This bundle builds for DLA core 0 by default" in readme


def test_bundles_are_byte_identical(tmp_path):
    bundles = []
    for name in ("one", "two"):
        assert build(tmp_path / name, "-t", "jetson-nano") == 0
        bundles.append(bundle_bytes(tmp_path / name))  # report.json's per-pass seconds left out
    assert bundles[0] == bundles[1]
