"""Small ONNX models (onnx.helper) and a CLI runner for the release-engineering tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.cli import main


def conv_model(path: Path, channels: int, activation: str = "Relu") -> Path:
    """x[1,3,16,16] -> Conv 3x3 (``channels`` outputs) -> ``activation`` -> Flatten -> Gemm to 5 classes."""
    rng = np.random.default_rng(channels)
    weights = [
        numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32) * 0.3, "w"),
        numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32) * 0.1, "b"),
        numpy_helper.from_array(rng.standard_normal((channels * 256, 5)).astype(np.float32) * 0.05, "fc"),
        numpy_helper.from_array(np.zeros(5, np.float32), "fcb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node(activation, ["c"], ["a"]),
        helper.make_node("Flatten", ["a"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])],
        weights,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def run_json(argv: list[str], capsys: Any) -> tuple[int, Any]:
    """``edgec ARGV --json``: the exit code and the parsed stdout."""
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def bundle_bytes(bundle: Path) -> dict[str, bytes]:
    """Every file of ``bundle`` by relative path; report.json without its per-pass seconds
    (``pass_timing``), as written by ``json.dumps(indent=2)``: what two builds must share."""
    files = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    report = json.loads(files["report.json"])
    del report["pass_timing"]
    files["report.json"] = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()
    return files
