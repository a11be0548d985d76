"""Matrix builds: a build file of 3 models x 4 targets x 2 precisions in one command, then again from the
cache; failures stay in their cell."""

from __future__ import annotations

import json

from release_helpers import conv_model, run_json

from edgec.cli import main

TARGETS = ["jetson-orin-nano", "jetson-nano", "jetson-agx-orin", "snapdragon-8gen2-gpu"]


def _build_file(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name, channels in (("cls_a", 4), ("cls_b", 6), ("cls_c", 8)):
        conv_model(models / f"{name}.onnx", channels)
    (tmp_path / "edgec.toml").write_text(
        'output = "out"\n'
        f"targets = {json.dumps(TARGETS)}\n"
        'precisions = ["fp32", "fp16"]\n'
        "[options]\nsamples = 2\n"
        '[[model]]\npath = "models/cls_a.onnx"\n'
        '[[model]]\npath = "models/cls_b.onnx"\n'
        '[[model]]\npath = "models/cls_c.onnx"\ninput-shape = { x = "1x3x16x16" }\n'
    )
    return tmp_path / "edgec.toml"


def test_build_file_matrix_then_all_cache_hits(tmp_path, capsys):
    build_file = _build_file(tmp_path)
    code, first = run_json(["build", "-f", str(build_file), "-j", "2"], capsys)
    assert code == 0, first
    assert first["cells_total"] == 24 and first["cells_ok"] == 24
    assert first["cache"] == {"hits": 0, "misses": 24}
    cells = {(c["model"], c["target"], c["precision"]) for c in first["cells"]}
    assert len(cells) == 24
    for cell in first["cells"]:
        bundle = tmp_path / "out" / f"{cell['model'][:-5]}-{cell['target']}-{cell['precision']}"
        assert cell["bundle"] == str(bundle)
        assert (bundle / "manifest.json").is_file() and cell["accuracy"]["passed"]
    assert (tmp_path / "out" / "report.html").is_file()

    code, second = run_json(["build", "-f", str(build_file), "--force"], capsys)
    assert code == 0
    assert second["cache"] == {"hits": 24, "misses": 0}
    assert [c["manifest_sha256"] for c in second["cells"]] == [c["manifest_sha256"] for c in first["cells"]]


def test_failed_cell_does_not_stop_the_others(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "onnxruntime-cpu,jetson-nano", "--precision", "fp16"]
    code, summary = run_json([*argv, "-o", str(tmp_path / "dist"), "--samples", "2", "-j", "1"], capsys)
    failed, built = summary["cells"]
    assert code == 6 == summary["exit_code"] == failed["exit_code"]
    assert failed["status"] == "failed" and "onnxruntime-cpu" in failed["error"]
    assert built["status"] == "ok" and (tmp_path / "dist" / "m-jetson-nano-fp16" / "manifest.json").is_file()
    assert not (tmp_path / "dist" / "m-onnxruntime-cpu-fp16").exists()


def test_bad_build_file_is_a_usage_error(tmp_path, capsys):
    text = 'targets = ["rpi4"]\n[[model]]\npath = "m.onnx"\nno-such-option = 1\n'
    (tmp_path / "edgec.toml").write_text(text)
    assert main(["build", "-f", str(tmp_path / "edgec.toml")]) == 2
    assert "no-such-option" in capsys.readouterr().err


def test_bad_jobs_and_missing_target_are_usage_errors(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    assert main(["build", str(model), "-t", "rpi4,rpi5", "-j", "0"]) == 2
    assert "-j/--jobs" in capsys.readouterr().err
    assert main(["build", str(model)]) == 2
    assert "--target" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()


def test_default_jobs_are_bounded_by_cpus_and_memory(monkeypatch):
    from edgec import matrix

    monkeypatch.setattr(matrix.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    monkeypatch.setattr(matrix, "_available_memory", lambda: 100 * matrix.WORKER_MEMORY_BYTES)
    assert matrix.default_jobs() == 4
    monkeypatch.setattr(matrix, "_available_memory", lambda: 2 * matrix.WORKER_MEMORY_BYTES + 1)
    assert matrix.default_jobs() == 2
    monkeypatch.setattr(matrix, "_available_memory", lambda: matrix.WORKER_MEMORY_BYTES // 2)
    assert matrix.default_jobs() == 1
