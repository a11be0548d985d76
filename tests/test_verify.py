"""edgec verify and signing: every byte of a bundle is covered, signatures bind the manifest to a key,
and the artifact is re-run where a runtime exists here."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from release_helpers import conv_model, run_json

from edgec.bundle import sha256_file
from edgec.cli import main


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """An onnxruntime-cpu bundle signed with a fresh key, and a second, unrelated key pair."""
    tmp = tmp_path_factory.mktemp("signed")
    keys = {}
    for name in ("key", "other"):
        assert main(["keygen", str(tmp / f"{name}.pem"), str(tmp / f"{name}.pub")]) == 0
        keys[name] = tmp / f"{name}.pub"
    model = conv_model(tmp / "m.onnx", 4)
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(tmp / "bundle"), "--samples", "2"]
    assert main([*argv, "--sign-key", str(tmp / "key.pem"), "--no-cache"]) == 0
    return tmp / "bundle", keys


def _copy(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    return copy


def test_signed_bundle_verifies_and_records_its_tools(signed, capsys):
    bundle, keys = signed
    code, result = run_json(["verify", str(bundle), "--public-key", str(keys["key"])], capsys)
    assert code == 0
    assert result["signature"] == "valid" and result["runtime"] == "onnxruntime"
    assert result["outputs"]["logits"]["cosine"] > 0.9999
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"edgec", "onnx", "onnxruntime", "numpy", "onnx-graphsurgeon"} <= set(manifest["tools"])
    assert "report.html" in manifest["files"]


def test_another_key_fails(signed, capsys):
    bundle, keys = signed
    assert main(["verify", str(bundle), "--public-key", str(keys["other"])]) == 21
    assert "manifest.json.sig" in capsys.readouterr().err


def test_one_changed_byte_in_any_file_is_named(signed, tmp_path, capsys):
    bundle, keys = signed
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert {"manifest.json", "manifest.json.sig", "model.onnx", "report.html"} <= set(names)
    for name in names:
        copy = _copy(bundle, tmp_path)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (copy / name).write_bytes(bytes(data))
        code = main(["verify", str(copy), "--public-key", str(keys["key"])])
        err = capsys.readouterr().err
        if name.startswith("manifest.json"):
            assert code in (20, 21) and name in err, (name, err)
        else:
            assert code == 20 and f"{name}: sha256 differs" in err, (name, err)
            assert main(["verify", str(copy)]) == 20  # without the key too
            capsys.readouterr()
        shutil.rmtree(copy)


def test_missing_and_extra_files(signed, tmp_path, capsys):
    bundle, _ = signed
    copy = _copy(bundle, tmp_path)
    (copy / "run.py").unlink()
    (copy / "extra.bin").write_bytes(b"\0")
    assert main(["verify", str(copy)]) == 20
    err = capsys.readouterr().err
    assert "run.py: missing" in err and "extra.bin: not listed" in err


def test_outputs_that_differ_are_named(signed, tmp_path, capsys):
    """A consistent manifest (hashes updated) whose expected output no longer matches the artifact."""
    bundle, _ = signed
    copy = _copy(bundle, tmp_path)
    with np.load(copy / "expected_output.npz") as data:
        expected = {k: data[k] for k in data.files}
    np.savez(copy / "expected_output.npz", logits=-expected["logits"])
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["expected_output.npz"] = sha256_file(copy / "expected_output.npz")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(copy)]) == 22
    assert "output 'logits'" in capsys.readouterr().err


def test_tflite_bundle_runs_under_litert(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "rpi4", "-o", str(tmp_path / "b"), "--samples", "2", "--no-cache"]
    assert main(argv) == 0
    capsys.readouterr()
    code, result = run_json(["verify", str(tmp_path / "b")], capsys)
    assert code == 0 and result["runtime"] == "litert" and result["outputs"]["logits"]["cosine"] > 0.9999


def test_a_cache_hit_is_signed_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "key.pem", "key.pub"]) == 0
    capsys.readouterr()
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "jetson-nano", "--samples", "2", "--sign-key", "key.pem"]
    code, miss = run_json(argv, capsys)
    assert code == 0 and miss["cache"] == "miss" and miss["bundle"] == "dist/m-jetson-nano"
    signature = (tmp_path / miss["bundle"] / "manifest.json.sig").read_bytes()
    shutil.rmtree(tmp_path / "dist")
    code, hit = run_json(argv, capsys)
    assert code == 0 and hit["cache"] == "hit" and hit["bundle"] == "dist/m-jetson-nano"
    assert (
        tmp_path / hit["bundle"] / "manifest.json.sig"
    ).read_bytes() == signature  # Ed25519 is deterministic
    assert main(["verify", hit["bundle"], "--public-key", "key.pub"]) == 0
    cached = list(Path(os.environ["EDGEC_CACHE_DIR"]).rglob("manifest.json*"))
    assert [p.name for p in cached] == ["manifest.json"]
