"""The Python API: typed results, the same errors as the command, and a light `import edgec`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from release_helpers import conv_model

import edgec
from edgec.bundle import sha256_file
from edgec.errors import OutputExistsError, TargetError


def test_import_edgec_is_light():
    heavy = "('numpy', 'onnx', 'onnxruntime', 'edgec.api')"
    code = f"import sys, edgec; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_build_inspect_targets_verify(tmp_path):
    model = conv_model(tmp_path / "m.onnx", 4)
    result = edgec.build(model, "onnxruntime-cpu", output=tmp_path / "b", samples=2)
    assert isinstance(result, edgec.CellResult)
    assert (result.status, result.target, result.precision, result.cache) == (
        "ok",
        "onnxruntime-cpu",
        "fp32",
        "miss",
    )
    assert result.manifest_sha256 == sha256_file(tmp_path / "b" / "manifest.json")
    assert result.accuracy["passed"] and result.min_cosine > 0.9999

    checked = edgec.verify(tmp_path / "b")
    assert isinstance(checked, edgec.VerifyResult) and checked.runtime == "onnxruntime"

    inspected = edgec.inspect(model, "jetson-nano")
    conv_macs, gemm_macs = 4 * 3 * 3 * 3 * 16 * 16, 4 * 16 * 16 * 5
    assert inspected.report["macs"]["total"] == conv_macs + gemm_macs
    assert inspected.report["target"]["name"] == "jetson-nano"
    assert "Conv" in edgec.inspect(model, ir=True).ir

    names = {t.name: t for t in edgec.targets()}
    assert names["onnxruntime-cpu"].backend == "onnxruntime" and "int8" in names["onnxruntime-cpu"].precisions


def test_errors_are_the_commands(tmp_path):
    model = conv_model(tmp_path / "m.onnx", 4)
    with pytest.raises(TargetError) as unknown:
        edgec.build(model, "no-such-target", output=tmp_path / "x")
    assert unknown.value.exit_code == 6
    (tmp_path / "b").mkdir()
    with pytest.raises(OutputExistsError):
        edgec.build(model, "onnxruntime-cpu", output=tmp_path / "b")
