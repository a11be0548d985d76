"""`edgec inspect` and `edgec targets` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from edgec.cli import main

EXAMPLE = Path(__file__).parent / "data" / "ppocr_mobile_v2_cls.onnx"


def test_inspect_json_on_efficientnet(shared_models, capsys):
    assert main(["inspect", str(shared_models / "efficientnet_lite0.onnx"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["macs"]["total"] == 385_187_552
    assert report["op_histogram"] == {"Add": 9, "Conv": 49, "Gemm": 1, "GlobalAveragePool": 1, "Reshape": 1}
    assert report["target"] is None


def test_inspect_with_target_lists_support_and_latency(capsys):
    argv = ["inspect", str(EXAMPLE), "--input-shape", "x=1x3x48x192", "--target"]
    assert main([*argv, "onnxruntime-cpu", "--json"]) == 0
    target = json.loads(capsys.readouterr().out)["target"]
    assert target["unsupported"] == []
    assert target["latency"]["total_ms"] > 0
    assert main([*argv, "acme-npu", "--targets-file", str(EXAMPLE.parent / "acme_targets.toml")]) == 0
    text = capsys.readouterr().out
    assert "not checked (backend 'acme' is not installed)" in text
    assert "estimated latency" in text


def test_inspect_refuses_precision_the_target_lacks(shared_models, capsys):
    argv = ["inspect", str(shared_models / "yolox_det.onnx"), "-t", "jetson-nano", "--precision", "int8"]
    assert main(argv) == 6
    assert "int8" in capsys.readouterr().err


def test_inspect_ir_is_deterministic(shared_models, capsys):
    argv = ["inspect", str(shared_models / "yolox_det.onnx"), "--ir"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("graph ") and first.count(" = Conv(") == 83
    assert "activation=SiLU" in first


def test_targets_text_and_json(capsys):
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:4] == ["TARGET", "GROUP", "FAMILY", "BACKEND"]
    assert "snapdragon-8gen2*" in text
    assert main(["targets", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["onnxruntime-cpu"]["backend"] == "onnxruntime"
    assert rows["jetson-nano"]["default_precision"] == "fp16"
    assert (
        rows["jetson-nano"]["group"] is None and rows["snapdragon-8gen2-gpu"]["group"] == "snapdragon-8gen2"
    )
