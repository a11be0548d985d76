"""End to end: `edgec build --target onnxruntime-cpu` on the real models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from release_helpers import bundle_bytes

from edgec.cli import main
from edgec.runtime import run, session

EXAMPLE = Path(__file__).parent / "data" / "ppocr_mobile_v2_cls.onnx"
MODELS = {
    "efficientnet_lite0.onnx": [],
    "ppocr_mobile_v2_cls.onnx": ["--input-shape", "x=1x3x48x192"],
    "yolox_det.onnx": [],
}


def build_example(out: Path, *extra: str) -> int:
    return main(
        [
            "build",
            str(EXAMPLE),
            "-t",
            "onnxruntime-cpu",
            "-o",
            str(out),
            "--input-shape",
            "x=1x3x48x192",
            *extra,
        ]
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_build_agrees_with_input_model(model, shared_models, tmp_path):
    out = tmp_path / "bundle"
    argv = [
        "build",
        str(shared_models / model),
        "--target",
        "onnxruntime-cpu",
        "-o",
        str(out),
        *MODELS[model],
    ]
    assert main(argv) == 0

    manifest = json.loads((out / "manifest.json").read_text())
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["samples"] >= 8
    assert all(m["cosine"] >= 0.99999 for m in report["accuracy"]["outputs"].values())

    # Independently of the report: run the artifact and the input model on 8 fresh inputs.
    artifact = session(out / manifest["artifact"])
    reference = session(shared_models / model)
    rng = np.random.default_rng(123)
    for _ in range(8):
        feeds = {i["name"]: rng.standard_normal(i["shape"]).astype(np.float32) for i in manifest["inputs"]}
        ours, theirs = run(artifact, feeds), run(reference, feeds)
        assert set(ours) == set(theirs)
        for name in theirs:
            assert _cosine(ours[name], theirs[name]) >= 0.99999, name


def test_manifest_keys_and_hashes(tmp_path):
    out = tmp_path / "b"
    assert build_example(out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    for key in (
        "edgec_version",
        "target",
        "backend",
        "precision",
        "artifact",
        "files",
        "inputs",
        "outputs",
        "passes",
        "source",
    ):
        assert key in manifest, key
    assert manifest["inputs"] == [
        {"name": "x", "shape": [1, 3, 48, 192], "dtype": "float32", "layout": "NCHW", "quantization": None}
    ]
    assert manifest["passes"][0]["name"] == "cleanup"
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [p for p in on_disk if p != "manifest.json"]
    import hashlib

    files = bundle_bytes(out)  # report.json without its per-pass seconds, which no hash covers
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    assert manifest["source"]["sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()


def test_two_builds_are_byte_identical(tmp_path):
    bundles = []
    for name in ("one", "two"):
        assert build_example(tmp_path / name) == 0
        bundles.append(bundle_bytes(tmp_path / name))  # report.json's per-pass seconds left out
    one, two = bundles
    assert one.keys() == two.keys()
    assert all(one[k] == two[k] for k in one), [str(k) for k in one if one[k] != two[k]]


def test_bundle_run_script_checks_itself(tmp_path):
    out = tmp_path / "b"
    assert build_example(out) == 0
    done = subprocess.run([sys.executable, "run.py"], cwd=out, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "save_infer_model/scale_0.tmp_1: shape [1, 2]" in done.stdout


def test_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "b"
    assert build_example(out) == 0
    (out / "stale.txt").write_text("old")
    assert build_example(out) == 8
    assert "--force" in capsys.readouterr().err
    assert (out / "stale.txt").exists()
    assert build_example(out, "--force") == 0
    assert not (out / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sample_data_is_used(tmp_path):
    data = tmp_path / "samples.npz"
    rng = np.random.default_rng(5)
    np.savez(data, x=rng.uniform(-1, 1, (3, 1, 3, 48, 192)).astype(np.float32))
    out = tmp_path / "b"
    assert build_example(out, "--sample-data", str(data)) == 0
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert accuracy["samples"] == 3
    assert accuracy["judged"] == {"source": "samples.npz", "count": 3, "indices": {"first": 0, "last": 2}}


def test_no_verify_skips_the_check(tmp_path):
    out = tmp_path / "b"
    assert build_example(out, "--no-verify") == 0
    assert json.loads((out / "report.json").read_text())["accuracy"] == {"skipped": "--no-verify"}
