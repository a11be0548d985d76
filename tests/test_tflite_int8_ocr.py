"""TFLite int8 on PP-OCRv4 (rapidocr-onnxruntime 1.4.4, fetched through the zoo registry).

- The DB text detector ends in a sigmoid probability map: in the int8 .tflite the LOGISTIC output
  has TFLite's fixed grid (1/256, zero point -128), and the engine's simulation uses the same one.
- The SVTR recognizer (attention MatMuls, LayerNorms written out as ReduceMean/Pow/Sqrt/Div)
  converts at int8 for rpi4 with its normalizations' Pow/Sqrt/Div as float islands, named in
  report.json; cortex-m7 (integer only) refuses it before any work, naming the op.

Inputs are small (the models take any height/width multiple of 32 and 8 rows of text), and GPTQ
is off (--no-reconstruct), to keep the conversion short.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from zoo_models import find, model_or_skip

from edgec.cli import main


def _zoo(name: str) -> Path:
    return model_or_skip(find(name))


def _build(model: Path, out: Path, target: str, shape: str, data: Path, *extra: str) -> int:
    argv = ["build", str(model), "-t", target, "--precision", "int8", "-o", str(out), "--input-shape", shape]
    return main([*argv, "--calibration-data", str(data), "--no-reconstruct", *extra])


def _text_images(count: int, height: int, width: int, seed: int) -> np.ndarray:
    """Dark strokes on light paper, normalized as PaddleOCR does ((x / 255 - 0.5) / 0.5)."""
    rng = np.random.default_rng(seed)
    paper = rng.uniform(170, 255, (count, 3, 1, 1))
    images = np.broadcast_to(paper, (count, 3, height, width)).copy()
    for image in images:
        for _ in range(6):
            top, left = rng.integers(0, height - 6), rng.integers(0, width - 12)
            image[:, top : top + rng.integers(2, 6), left : left + rng.integers(4, 12)] = rng.uniform(0, 80)
    return ((images / 255.0 - 0.5) / 0.5).astype(np.float32)[:, None]


def test_db_detector_probability_map_is_on_tflites_logistic_grid(tmp_path):
    model = _zoo("ppocrv4_det")
    np.savez(tmp_path / "cal.npz", x=_text_images(8, 64, 64, 0))
    out = tmp_path / "det"
    assert _build(model, out, "rpi4", "x=1x3x64x64", tmp_path / "cal.npz", "--no-verify") == 0
    interpreter = Interpreter(model_path=str(out / "model.tflite"))
    logistic = [
        d["quantization"]
        for d in interpreter.get_tensor_details()
        if d["dtype"] == np.int8 and d["name"].split("/")[0] == _last_scope(interpreter)
    ]
    assert logistic and all(q == (pytest.approx(1 / 256), -128) for q in logistic)
    report = json.loads((out / "report.json").read_text())
    assert report["quantization"]["float_islands"] == []


def _last_scope(interpreter: Interpreter) -> str:
    """The TF name scope of the sigmoid: the last lowered node's ("n<i>")."""
    scopes = [d["name"].split("/")[0] for d in interpreter.get_tensor_details() if d["name"].startswith("n")]
    return max((s for s in scopes if s[1:].isdigit()), key=lambda s: int(s[1:]))


def test_svtr_recognizer_converts_at_int8_with_float_islands(tmp_path, capsys):
    model = _zoo("ppocrv4_rec")
    np.savez(tmp_path / "cal.npz", x=_text_images(8, 48, 160, 0))
    out = tmp_path / "rec"
    assert _build(model, out, "rpi4", "x=1x3x48x160", tmp_path / "cal.npz", "--no-verify") == 0
    islands = json.loads((out / "report.json").read_text())["quantization"]["float_islands"]
    assert sorted({i["op"] for i in islands}) == ["Add", "Div", "Pow", "ReduceMean", "Sqrt"]
    assert sum(i["op"] == "Sqrt" for i in islands) == 5  # one per LayerNorm
    ops = json.loads((out / "manifest.json").read_text())["backend_metadata"]["ops"]
    # The islands run in float between a DEQUANTIZE and a QUANTIZE (TensorFlow turns x / sqrt(v) into
    # x * rsqrt(v)).
    assert ops.get("DEQUANTIZE") and ops.get("QUANTIZE") and (ops.get("RSQRT") or ops.get("SQRT")), ops
    code = _build(model, tmp_path / "mcu", "cortex-m7", "x=1x3x48x160", tmp_path / "cal.npz")
    err = capsys.readouterr().err
    assert code == 4 and "cortex-m7" in err and "Sqrt node" in err and not (tmp_path / "mcu").exists()
