"""edgec build --prune --cluster --huffman: report.json, manifest.json and the compressed weights file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from compression_models import build_argv, digits_cnn, write_digits_model

from edgec.cli import main
from edgec.compression.options import CompressionRequest
from edgec.compression.stage import compression_specs
from edgec.errors import UsageError


def test_build_records_each_pass_and_ships_the_huffman_weights(tmp_path):
    digits = digits_cnn()
    model = write_digits_model(digits, tmp_path / "digits.onnx")
    np.savez(tmp_path / "samples.npz", image=digits.x_train[:64, None])
    out = tmp_path / "bundle"
    argv = build_argv(model, out, tmp_path / "samples.npz")
    assert main([*argv, "--prune", "0.8:global", "--cluster", "16", "--huffman"]) == 0
    report = json.loads((out / "report.json").read_text())
    prune, cluster = report["compression"]["passes"]
    assert (prune["name"], cluster["name"]) == ("prune", "cluster")
    assert prune["before"]["density"] == 1.0 and prune["after"]["density"] == pytest.approx(0.2, abs=0.01)
    assert cluster["after"]["metric"] >= 0.95
    assert report["compression"]["storage"]["ratio"] > 10
    assert report["accuracy"]["passed"]
    # without --validation-data every 4th sample judges, and no pass reads it
    assert report["compression"]["samples"] == "samples.npz: every 4th sample, held out from the passes"
    assert (report["compression"]["calibration_samples"], report["compression"]["validation_samples"]) == (
        48,
        16,
    )
    assert "calibration_metrics" in cluster["after"] and "metrics" in cluster["after"]
    manifest = json.loads((out / "manifest.json").read_text())
    codebooks = manifest["compression"]["codebooks"]
    assert set(codebooks) == {"conv1", "conv2", "fc1", "fc2"} and max(codebooks.values()) <= 17  # 16 + zero
    assert [p["name"] for p in manifest["passes"]] == ["cleanup", "prune", "cluster"]
    assert {p["options"].get("reserve") for p in manifest["passes"][1:]} == {4}
    assert {"weights.huf", "decode_weights.py"} <= set(manifest["files"])
    subprocess.run([sys.executable, "decode_weights.py"], cwd=out, check=True, capture_output=True)
    assert len(np.load(out / "decoded_weights.npz").files) == 4


def test_specs_run_structure_first_and_reject_a_bad_prune_spec():
    request = CompressionRequest(prune="0.9:sensitivity", prune_channels=0.3, low_rank=0.5, cluster=8)
    specs = compression_specs(request, {"calibration": "", "samples": 4})
    assert [s.name for s in specs] == ["prune-channels", "prune", "low-rank", "cluster"]
    assert specs[1].options.mode == "sensitivity" and specs[1].options.reconstruct
    with pytest.raises(UsageError, match="SPARSITY"):
        compression_specs(CompressionRequest(prune="lots"), {})
    (channels,) = compression_specs(CompressionRequest(prune_channels="0.2:obs"), {})
    assert channels.options.ratio == 0.2 and channels.options.criterion == "obs"
    assert specs[0].options.criterion == "l1" and specs[0].options.reconstruct
    with pytest.raises(UsageError, match="RATIO"):
        compression_specs(CompressionRequest(prune_channels="0.2:best"), {})
