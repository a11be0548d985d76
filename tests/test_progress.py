"""--progress json lines, -q/-v through logging."""

from __future__ import annotations

import json

from release_helpers import conv_model

from edgec.cli import main


def _events(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_json_progress_reports_passes_and_cells(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "jetson-nano", "--samples", "2", "--progress", "json"]
    assert main([*argv, "-o", str(tmp_path / "one")]) == 0
    events = _events(capsys.readouterr().err)
    assert {"event": "pass", "name": "cleanup"} in events

    for jobs in ("1", "2"):  # in this process; in two worker processes, their events relayed here
        argv_matrix = [*argv, "--precision", "fp32,fp16", "-o", str(tmp_path / jobs), "-j", jobs]
        assert main([*argv_matrix, "--no-cache"]) == 0
        events = _events(capsys.readouterr().err)
        assert events[0] == {"event": "cells", "total": 2}
        cells = [e for e in events if e["event"] == "cell"]
        assert sorted((c["precision"], c["status"]) for c in cells) == [("fp16", "ok"), ("fp32", "ok")]
        passes = {(e["precision"], e["name"]) for e in events if e["event"] == "pass"}
        assert {("fp32", "cleanup"), ("fp16", "cleanup")} <= passes


def test_quiet_silences_warnings_and_verbose_adds_info(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--precision", "int8", "--samples", "2"]
    assert main([*argv, "-o", str(tmp_path / "a")]) == 0
    assert "edgec: warning: no --calibration-data" in capsys.readouterr().err
    assert main([*argv, "-o", str(tmp_path / "b"), "-q", "--no-cache"]) == 0  # builds again, quietly
    assert capsys.readouterr().err == ""
    assert main([*argv, "-o", str(tmp_path / "c"), "-v"]) == 0
    assert "edgec: info: cache hit" in capsys.readouterr().err


def test_debug_names_each_pass_and_json_stays_alone_on_stdout(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--samples", "2", "--no-cache", "--progress", "off"]
    assert main([*argv, "-o", str(tmp_path / "a"), "-v"]) == 0
    assert "edgec: debug:" not in capsys.readouterr().err
    assert main([*argv, "-o", str(tmp_path / "b"), "-vv", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["target"] == "onnxruntime-cpu"
    assert "edgec: debug: pass 'cleanup': " in err and "edgec: debug: pass 'fold-constants': " in err
    assert main([*argv, "-o", str(tmp_path / "c"), "-q", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["target"] == "onnxruntime-cpu" and err == ""
