"""Build files: options mean what they mean on the command line, paths are relative to the file."""

from __future__ import annotations

import json

import numpy as np
from release_helpers import conv_model

from edgec.cli import main


def test_paths_are_relative_to_the_build_file_and_flags_map(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    conv_model(project / "m.onnx", 4)
    np.savez(project / "data" / "s.npz", x=np.ones((3, 1, 3, 16, 16), np.float32))
    (project / "edgec.toml").write_text(
        'targets = ["jetson-nano"]\n'
        "[options]\nno-verify = false\nno-bias-correction = true\n"
        '[[model]]\npath = "m.onnx"\nsample-data = "data/s.npz"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["build", "-f", str(project / "edgec.toml"), "--json", "-j", "1"]) == 0
    (cell,) = json.loads(capsys.readouterr().out)["cells"]
    assert cell["bundle"] == str(project / "dist" / "m-jetson-nano")
    assert cell["accuracy"]["judged"]["source"] == "s.npz" and cell["accuracy"]["samples"] == 3


def test_model_on_the_command_line_and_a_build_file_is_refused(tmp_path, capsys):
    (tmp_path / "edgec.toml").write_text('targets = ["rpi4"]\n[[model]]\npath = "m.onnx"\n')
    model = conv_model(tmp_path / "m.onnx", 4)
    assert main(["build", str(model), "-f", str(tmp_path / "edgec.toml")]) == 2
    assert "either MODEL or -f" in capsys.readouterr().err


def test_two_cells_writing_one_bundle_are_refused_before_any_build(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        conv_model(tmp_path / sub / "m.onnx", 4)
    text = 'targets = ["jetson-nano"]\n[[model]]\npath = "a/m.onnx"\n[[model]]\npath = "b/m.onnx"\n'
    (tmp_path / "edgec.toml").write_text(text)
    assert main(["build", "-f", str(tmp_path / "edgec.toml")]) == 2
    assert "two builds write" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()
