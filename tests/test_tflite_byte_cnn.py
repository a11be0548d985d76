"""A byte CNN in the shape of the zoo's magika model (onnx.helper): int32 input, one-hot embedding by
Equal/Cast, MatMul, a convolution along the sequence (a 2-D Conv with a k x 1 kernel between
Unsqueeze and Squeeze, as magika has it), then global pooling over a 3-D [N, C, W] tensor, built for
rpi4 at fp32 and checked against ONNX Runtime. The global pools used to reduce axes 1 and 2 as if
every input were a 4-D NHWC image, so the 3-D case lost its channels ("Cannot reshape a tensor with
1 elements to shape [1,512]")."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from frontend_support import make_model, save
from onnx import helper

from edgec.pipeline import BuildOptions, build

VOCAB, LENGTH, EMBED, CHANNELS = 9, 24, 6, 5


def _byte_cnn(pool: str) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = {
        "column": np.array([1, LENGTH, 1], np.int64),
        "vocab": np.arange(VOCAB, dtype=np.int32),
        "embed": rng.standard_normal((VOCAB, EMBED)).astype(np.float32),
        "kernel": rng.standard_normal((CHANNELS, EMBED, 3, 1)).astype(np.float32),
        "axes": np.array([2], np.int64),
        "last": np.array([3], np.int64),
    }
    nodes = [
        helper.make_node("Reshape", ["bytes", "column"], ["column_bytes"]),
        helper.make_node("Equal", ["column_bytes", "vocab"], ["hot"]),
        helper.make_node("Cast", ["hot"], ["one_hot"], to=onnx.TensorProto.FLOAT),
        helper.make_node("MatMul", ["one_hot", "embed"], ["embedded"]),
        helper.make_node("Transpose", ["embedded"], ["channels_first"], perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", ["channels_first", "last"], ["image"]),
        helper.make_node("Conv", ["image", "kernel"], ["conv_image"], kernel_shape=[3, 1]),
        helper.make_node("Squeeze", ["conv_image", "last"], ["conv"]),
        helper.make_node(pool, ["conv"], ["pooled"]),
        helper.make_node("Squeeze", ["pooled", "axes"], ["y"]),
    ]
    feeds = {"bytes": np.zeros((1, LENGTH), np.int32)}
    return make_model(nodes, feeds, 17, inits)


@pytest.mark.parametrize("pool", ["GlobalMaxPool", "GlobalAveragePool"])
def test_byte_cnn_builds_for_rpi4_at_fp32(tmp_path, pool):
    model = save(_byte_cnn(pool), tmp_path)
    samples = tmp_path / "samples.npz"
    rng = np.random.default_rng(1)
    np.savez(samples, bytes=rng.integers(0, VOCAB, (8, 1, LENGTH)).astype(np.int32))
    result = build(BuildOptions(model=model, target="rpi4", output=tmp_path / "out", sample_data=samples))
    accuracy = result.report["accuracy"]
    assert accuracy["samples"] == 8
    assert accuracy["outputs"]["y"]["cosine"] >= 0.9999
    assert accuracy["outputs"]["y"]["max_abs_error"] < 1e-4
