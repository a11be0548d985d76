"""Public recurrent models of the zoo (tests/zoo_models.toml) at fp32 on rpi4: the Silero VAD (stateful
LSTM; 1-D convolutions and If nodes; judged over an 8-chunk stream carrying its state) and the
ddddocr CRNN (bidirectional LSTM as two fused UNIDIRECTIONAL_SEQUENCE_LSTM ops, fewer .tflite ops
than the ONNX graph has nodes)."""

from __future__ import annotations

import onnx
import pytest
from zoo_models import find, model_or_skip

from edgec.backends.tflite.flatbuffer import read_model
from edgec.pipeline import BuildOptions, build


def _min_cosine(report: dict) -> float:
    return min(o["cosine"] for o in report["accuracy"]["outputs"].values())


@pytest.mark.parametrize("target", ["rpi4", "onnxruntime-cpu", "jetson-agx-orin"])
def test_silero_vad_streams_at_fp32(tmp_path, target):
    entry = find("silero_vad_16k")
    model, shapes = model_or_skip(entry), entry.input_shapes()
    result = build(
        BuildOptions(
            model=model, target=target, precision="fp32", output=tmp_path / "vad", input_shapes=shapes
        )
    )
    assert _min_cosine(result.report) >= 0.9999
    assert result.report["accuracy"]["stream"]["chunks"] == 8
    assert result.manifest["state"] == [{"input": "state", "output": "stateN"}]


def test_crnn_lstm_is_fused_on_rpi4(tmp_path):
    model = model_or_skip(find("ddddocr_common"))
    result = build(
        BuildOptions(
            model=model,
            target="rpi4",
            precision="fp32",
            output=tmp_path / "crnn",
            input_shapes={"input1": (1, 1, 64, 256)},
        )
    )
    assert _min_cosine(result.report) >= 0.9999
    ops = read_model((tmp_path / "crnn" / "model.tflite").read_bytes()).op_names()
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2
    assert len(ops) <= len(onnx.load(model).graph.node)
