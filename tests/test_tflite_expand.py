"""ONNX Expand through the TFLite lowering (onnx.helper): a transformer's attention mask broadcast
from [N, 1, 1, L] to [N, 1, L, L] and a lower-rank float input, built for rpi4 at fp32 and checked
against ONNX Runtime. The lowering had no Expand, so every BERT-style encoder was refused for TFLite
targets (the zoo's paraphrase-MiniLM-L3-v2)."""

from __future__ import annotations

import numpy as np
import onnx
from frontend_support import make_model, save
from onnx import helper

from edgec.backends.tflite.flatbuffer import read_model
from edgec.pipeline import BuildOptions, build

LENGTH = 6


def _masked_scores() -> onnx.ModelProto:
    inits = {
        "mask_shape": np.array([1, 1, 1, LENGTH], np.int64),
        "square": np.array([1, 1, LENGTH, LENGTH], np.int64),
        "rows": np.array([3, LENGTH], np.int64),
    }
    nodes = [
        helper.make_node("Reshape", ["mask", "mask_shape"], ["mask4"]),
        helper.make_node("Cast", ["mask4"], ["maskf"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Expand", ["maskf", "square"], ["wide"]),
        helper.make_node("Expand", ["bias", "rows"], ["bias_rows"]),
        helper.make_node("Mul", ["wide", "scores"], ["masked"]),
        helper.make_node("ReduceSum", ["masked"], ["summed"], keepdims=0),
        helper.make_node("Add", ["summed", "bias_rows"], ["y"]),
    ]
    feeds = {
        "mask": np.ones((1, LENGTH), np.int64),
        "scores": np.zeros((1, 1, LENGTH, LENGTH), np.float32),
        "bias": np.zeros((LENGTH,), np.float32),
    }
    return make_model(nodes, feeds, 17, inits)


def test_expand_builds_for_rpi4_at_fp32(tmp_path):
    model = save(_masked_scores(), tmp_path)
    rng = np.random.default_rng(0)
    samples = tmp_path / "samples.npz"
    np.savez(
        samples,
        mask=(rng.random((8, 1, LENGTH)) < 0.7).astype(np.int64),
        scores=rng.standard_normal((8, 1, 1, LENGTH, LENGTH)).astype(np.float32),
        bias=rng.standard_normal((8, LENGTH)).astype(np.float32),
    )
    result = build(BuildOptions(model=model, target="rpi4", output=tmp_path / "out", sample_data=samples))
    assert result.report["accuracy"]["outputs"]["y"]["max_abs_error"] < 1e-5
    artifact = (tmp_path / "out" / result.manifest["artifact"]).read_bytes()
    assert "BROADCAST_TO" in read_model(artifact).used_ops()
