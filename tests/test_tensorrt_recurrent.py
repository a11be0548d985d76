"""TensorRT int8 on a strongly typed stack (jetson-agx-orin, TensorRT 10.3): the recurrent layers
compute in fp16 through their ONNX types, checked under ONNX Runtime on a multi-chunk stream against
the fp32 model (small onnx.helper models, tests/recurrent_models.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from recurrent_models import BATCH, HIDDEN, STEPS, WIDTH, recurrent_model

from edgec.accuracy import MIN_COSINE
from edgec.backends.tensorrt.recurrent import RECURRENT_OPS
from edgec.pipeline import BuildOptions, build
from edgec.runtime import run, session

CHUNKS = 8


def _fp16_operands(model: onnx.ModelProto) -> dict[str, list[bool]]:
    """Per recurrent node: whether each named float operand is an fp16 initializer or a Cast to fp16."""
    fp16 = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16}
    cast = {
        n.output[0]
        for n in model.graph.node
        if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.FLOAT16
    }
    lens = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT32}
    return {
        node.name: [name in fp16 | cast for name in node.input if name and name not in lens]
        for node in model.graph.node
        if node.op_type in RECURRENT_OPS
    }


def _stream_cosine(
    reference: onnx.ModelProto, built: Path, states: list[tuple[str, str]], dirs: int
) -> float:
    rng = np.random.default_rng(7)
    want_sess, got_sess = session(reference), session(onnx.load(built))
    want_state = got_state = {i: np.zeros((dirs, BATCH, HIDDEN), np.float32) for i, _ in states}
    want, got = [], []
    for _ in range(CHUNKS):
        x = rng.standard_normal((STEPS, BATCH, WIDTH)).astype(np.float32)
        a, b = run(want_sess, {"x": x, **want_state}), run(got_sess, {"x": x, **got_state})
        want_state = {i: a[o] for i, o in states}
        got_state = {i: b[o] for i, o in states}
        want += [a[name].ravel() for name in sorted(a)]
        got += [b[name].ravel() for name in sorted(a)]
    u, v = np.concatenate(want), np.concatenate(got)
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v)), float(np.max(np.abs(u - v)))


@pytest.mark.parametrize(
    ("op", "direction", "states"),
    [
        ("LSTM", "forward", [("h0", "hn"), ("c0", "cn")]),
        ("GRU", "bidirectional", [("h0", "hn")]),
        ("RNN", "reverse", [("h0", "hn")]),
    ],
)
def test_strongly_typed_int8_runs_recurrent_layers_in_fp16(tmp_path, op, direction, states):
    model = recurrent_model(op, direction, states=True)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    out = tmp_path / "out"
    result = build(BuildOptions(model=path, target="jetson-agx-orin", precision="int8", output=out))
    assert result.report["backend"]["int8"]["float_recurrent_layers"]["precision"] == "fp16"
    built = onnx.load(out / "model.onnx")
    (flags,) = _fp16_operands(built).values()
    (before,) = _fp16_operands(model).values()
    assert flags == [True] * len(before)
    assert [i.type.tensor_type.elem_type for i in built.graph.output] == [onnx.TensorProto.FLOAT] * len(
        model.graph.output
    )
    cosine, deviation = _stream_cosine(
        model, out / "model.onnx", states, 2 if direction == "bidirectional" else 1
    )
    assert cosine >= MIN_COSINE["fp16"] and deviation > 0
    assert result.report["accuracy"]["passed"]


def test_the_float_model_for_implicit_int8_stays_fp32(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(recurrent_model("LSTM", "forward"), path)
    build(BuildOptions(model=path, target="jetson-agx-orin", precision="int8", output=tmp_path / "out"))
    (flags,) = _fp16_operands(onnx.load(tmp_path / "out" / "model_fp32.onnx")).values()
    assert flags and not any(flags)
