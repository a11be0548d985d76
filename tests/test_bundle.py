"""Bundles: atomic placement, sanitized names, untrusted names kept as plain text."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.bundle import safe_name, staging
from edgec.cli import main

HOSTILE = "in put'\"$(touch pwned)`id`\n../../x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resnet50", "resnet50"),
        ("../../etc/passwd", "etc_passwd"),
        ("a b$(c)", "a_b_c"),
        ("...", "model"),
        ("", "model"),
    ],
)
def test_safe_name(text, expected):
    assert safe_name(text) == expected


def test_failed_staging_leaves_nothing(tmp_path):
    target = tmp_path / "deep" / "er" / "bundle"
    with pytest.raises(RuntimeError), staging(target, force=False) as tmp:
        (tmp / "partial.bin").write_bytes(b"x")
        raise RuntimeError("backend failed")
    assert list(tmp_path.iterdir()) == []


def test_failed_staging_keeps_a_parent_another_build_filled(tmp_path):
    target = tmp_path / "dist" / "bundle"
    with pytest.raises(RuntimeError, match="backend failed"), staging(target, force=False):
        (tmp_path / "dist" / "other-bundle").mkdir()
        raise RuntimeError("backend failed")
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["other-bundle"]


def test_failed_replace_keeps_the_old_bundle(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "manifest.json").write_text('{"edgec_version": "0"}')
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staging(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("backend failed")
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def _hostile_model(path):
    weight = numpy_helper.from_array(np.full((1, 4), 0.5, np.float32), "w")
    nodes = [
        helper.make_node("Add", [HOSTILE, "w"], ["s"], name="n'$(rm -rf /)"),
        helper.make_node("Relu", ["s"], ['out "$HOME"'], name="relu`x`"),
    ]
    graph = helper.make_graph(
        nodes,
        "g$(whoami)",
        [helper.make_tensor_value_info(HOSTILE, TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info('out "$HOME"', TensorProto.FLOAT, [1, 4])],
        initializer=[weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)


def test_hostile_names_stay_plain_text(tmp_path):
    model = tmp_path / "we ird$(x).onnx"
    _hostile_model(model)
    out = tmp_path / "b"
    assert main(["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["name"] == HOSTILE
    done = subprocess.run([sys.executable, "run.py"], cwd=out, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not (out / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_default_output_name_is_sanitized(tmp_path, monkeypatch):
    model = tmp_path / "we ird$(x).onnx"
    _hostile_model(model)
    monkeypatch.chdir(tmp_path)
    assert main(["build", str(model), "-t", "onnxruntime-cpu"]) == 0
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["we_ird_x-onnxruntime-cpu"]
