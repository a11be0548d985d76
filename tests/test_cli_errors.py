"""Bad input: one clear paragraph on stderr, a documented exit code, no output left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

EXAMPLE = Path(__file__).parent / "data" / "ppocr_mobile_v2_cls.onnx"


def edgec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgec", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    err = done.stderr.strip()
    assert "Traceback" not in err
    assert err.startswith("edgec: error: ")
    assert "\n\n" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def _no_outputs(cwd: Path) -> None:
    assert not (cwd / "dist").exists()
    assert not (cwd / "out").exists()


def test_truncated_model(tmp_path):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(EXAMPLE.read_bytes()[:1000])
    done = edgec("build", str(bad), "-t", "onnxruntime-cpu", "-o", "out", cwd=tmp_path)
    assert_clean_failure(done, 3, "cut.onnx")
    _no_outputs(tmp_path)


def test_unsupported_op(tmp_path):
    node = helper.make_node("Unique", ["x"], ["y"], name="uniq")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "uniq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    done = edgec("build", str(path), "-t", "onnxruntime-cpu", "-o", "out", cwd=tmp_path)
    assert_clean_failure(done, 4, "uniq.onnx", "Unique", "uniq", "13")
    _no_outputs(tmp_path)


def test_dynamic_dim_without_shape(tmp_path):
    done = edgec("build", str(EXAMPLE), "-t", "onnxruntime-cpu", cwd=tmp_path)
    assert_clean_failure(done, 5, "ppocr_mobile_v2_cls.onnx", "'x'", "--input-shape")
    _no_outputs(tmp_path)


def test_unknown_target(tmp_path):
    done = edgec("build", str(EXAMPLE), "-t", "jetson-nanoo", "--input-shape", "x=1x3x48x192", cwd=tmp_path)
    assert_clean_failure(done, 6, "jetson-nanoo", "jetson-nano")
    _no_outputs(tmp_path)


def test_malformed_targets_file(tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('[targets.mybox]\nfamily = "arm-cpu"\nbackend = "onnxruntime"\nprecisions = "fp32"\n')
    done = edgec(
        "build",
        str(EXAMPLE),
        "-t",
        "mybox",
        "--targets-file",
        str(bad),
        "--input-shape",
        "x=1x3x48x192",
        cwd=tmp_path,
    )
    assert_clean_failure(done, 6, "mine.toml", "mybox")
    _no_outputs(tmp_path)


def test_target_without_installed_backend(tmp_path):
    catalogue = str(EXAMPLE.parent / "acme_targets.toml")
    argv = [
        "build",
        str(EXAMPLE),
        "-t",
        "acme-npu",
        "--targets-file",
        catalogue,
        "--input-shape",
        "x=1x3x48x192",
    ]
    done = edgec(*argv, cwd=tmp_path)
    assert_clean_failure(done, 6, "acme-npu", "'acme'", "not installed")
    _no_outputs(tmp_path)


def test_bad_input_shape_syntax(tmp_path):
    done = edgec("build", str(EXAMPLE), "-t", "onnxruntime-cpu", "--input-shape", "x=1by3", cwd=tmp_path)
    assert done.returncode == 2
    assert "NAME=DIMxDIMx" in done.stderr
    _no_outputs(tmp_path)


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_shows_traceback(tmp_path, flag):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(b"not a model")
    done = edgec("build", str(bad), "-t", "onnxruntime-cpu", flag, cwd=tmp_path)
    assert done.returncode == 3
    assert "Traceback" in done.stderr


def test_model_onnxruntime_cannot_load(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "future.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=99), path)
    done = edgec("build", str(path), "-t", "onnxruntime-cpu", "-o", "out", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "future.onnx" in done.stderr and "Traceback" not in done.stderr
    _no_outputs(tmp_path)


def test_tensorrt_flags_are_refused_elsewhere(tmp_path):
    argv = ["build", str(EXAMPLE), "-t", "onnxruntime-cpu", "--input-shape", "x=1x3x48x192", "-o", "out"]
    done = edgec(*argv, "--dla-core", "0", "--build-engine", cwd=tmp_path)
    assert_clean_failure(done, 2, "--dla-core", "--build-engine", "onnxruntime-cpu")
    _no_outputs(tmp_path)
