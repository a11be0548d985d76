"""ONNX Erf through the TFLite lowering (onnx.helper): BERT's exact GELU, x / 2 * (1 + erf(x / sqrt 2)),
built for rpi4 at fp32 against ONNX Runtime. TFLite has no ERF kernel, so TF's Erf stopped the
converter ("'tf.Erf' op is neither a custom op nor a flex op": the zoo's MiniLM); the lowering now
computes erf in builtin ops (A&S 7.1.26, error <= 1.5e-7)."""

from __future__ import annotations

import numpy as np
import onnx
from frontend_support import make_model, save
from onnx import helper

from edgec.backends.tflite.flatbuffer import read_model
from edgec.pipeline import BuildOptions, build


def _gelu() -> onnx.ModelProto:
    inits = {"root2": np.array(np.sqrt(2.0), np.float32), "one": np.array(1.0, np.float32),
             "half": np.array(0.5, np.float32)}  # fmt: skip
    nodes = [
        helper.make_node("Div", ["x", "root2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["shifted"]),
        helper.make_node("Mul", ["x", "shifted"], ["doubled"]),
        helper.make_node("Mul", ["doubled", "half"], ["y"]),
    ]
    return make_model(nodes, {"x": np.zeros((2, 64), np.float32)}, 17, inits)


def test_gelu_with_erf_builds_for_rpi4_at_fp32(tmp_path):
    model = save(_gelu(), tmp_path)
    samples = tmp_path / "samples.npz"
    x = np.linspace(-6.0, 6.0, 8 * 2 * 64, dtype=np.float32).reshape(8, 2, 64)
    np.savez(samples, x=x)
    result = build(BuildOptions(model=model, target="rpi4", output=tmp_path / "out", sample_data=samples))
    assert result.report["accuracy"]["outputs"]["y"]["max_abs_error"] < 1e-5
    artifact = (tmp_path / "out" / result.manifest["artifact"]).read_bytes()
    assert not any("FLEX" in op or "CUSTOM" in op for op in read_model(artifact).used_ops())
