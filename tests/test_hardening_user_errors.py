"""Issue 19 item 4: user errors that were reported as internal errors (exit 1, "a bug") now end with
a documented exit code and one line naming what is wrong."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hardening_helpers import (
    assert_clean,
    conv_model,
    edgec_subprocess,
    relu_model,
    run_cli,
    save_model,
    tensor,
)

from edgec.targets import load_catalogue

BUILD = ("build", "-t", "onnxruntime-cpu")


def test_negative_seed_is_a_bad_command_line(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    with pytest.raises(SystemExit) as stop:
        run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--seed", "-1")
    assert stop.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_a_dim_of_1e20_is_a_shape_error_naming_the_input(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx", dims=("N", 4))
    shape = "x=100000000000000000000x4"
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--input-shape", shape)
    assert_clean(code, err, 5, "m.onnx", "input 'x'", "100000000000000000000x4")
    assert not (tmp_path / "out").exists()


def test_input_shape_contradicting_a_static_shape_is_refused(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx", dims=(1, 4))
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--input-shape", "x=2x4")
    assert_clean(code, err, 5, "--input-shape x=2x4", "contradicts", "1x4", "m.onnx")


def test_a_corrupt_npz_is_a_bad_command_line(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, err = run_cli(
        capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--sample-data", str(tmp_path / "bad.npz")
    )
    assert_clean(code, err, 2, "bad.npz", "cannot read")


def test_a_pickled_npz_is_refused_without_unpickling(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.savez(tmp_path / "pickled.npz", x=np.array([Payload()], dtype=object))
    data = str(tmp_path / "pickled.npz")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--sample-data", data)
    assert_clean(code, err, 2, "pickled.npz", "object arrays")
    assert not marker.exists()


def test_output_under_an_existing_file_exits_8(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    (tmp_path / "afile").write_text("x")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "afile" / "sub"))
    assert_clean(code, err, 8, "afile", "not a directory")
    assert (tmp_path / "afile").read_text() == "x"


def test_output_under_proc_exits_8(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", "/proc/edgec-bundle")
    assert_clean(code, err, 8, "/proc/edgec-bundle")


def test_a_graph_whose_output_is_its_input_builds(tmp_path, capsys):
    model = save_model(tmp_path / "same.onnx", [], [tensor("x", [1, 4])], [tensor("x", [1, 4])])
    out = tmp_path / "out"
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(out))
    assert code == 0, err
    assert (out / "manifest.json").is_file()


BLOCKER = """
import sys
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "ai_edge_litert"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, _Missing())
"""


TFLITE_TARGETS = [t.name for t in load_catalogue().values() if t.backend == "tflite"]


@pytest.mark.parametrize("target", TFLITE_TARGETS)
def test_tflite_targets_without_the_tflite_extra_exit_6_with_the_install_command(tmp_path, target):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    model = conv_model(tmp_path / "m.onnx")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
    }
    done = edgec_subprocess("build", str(model), "-t", target, "-o", "out", cwd=tmp_path, env=env)
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'edgec[tflite]'" in done.stderr and target in done.stderr
    assert not (tmp_path / "out").exists()
