"""LSTM, GRU and RNN as single ops, built for every backend at fp32 and checked against ONNX Runtime
(small onnx.helper models, tests/recurrent_models.py): each direction, ``sequence_lens``, states as
graph inputs and outputs (a stateful model, checked over a stream of chunks carrying its state);
TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM; the bundle's run script streaming on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from recurrent_models import gru_head_model, keyword_model, recurrent_model

from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.data.samples import random_samples
from edgec.errors import ShapeError, UnsupportedOpError
from edgec.frontend import load_model
from edgec.pipeline import BuildOptions, build
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.streams import carry_state
from edgec.runtime import run, session
from edgec.streaming import run_stream, state_pairs

TARGETS = ("rpi4", "onnxruntime-cpu", "jetson-agx-orin")
CASES = {
    "LSTM forward": ("LSTM", "forward", {}),
    "LSTM reverse, states in/out": ("LSTM", "reverse", {"states": True}),
    "LSTM bidirectional, sequence_lens": ("LSTM", "bidirectional", {"sequence_lens": True}),
    "GRU forward, sequence_lens": ("GRU", "forward", {"sequence_lens": True}),
    "GRU reverse, linear_before_reset": ("GRU", "reverse", {"linear_before_reset": 1}),
    "GRU bidirectional, states in/out": ("GRU", "bidirectional", {"states": True}),
    "RNN bidirectional, states in/out": ("RNN", "bidirectional", {"states": True}),
}


def _save(model: onnx.ModelProto, directory: Path, name: str = "model.onnx") -> Path:
    path = directory / name
    onnx.save(model, path)
    return path


def _build(path: Path, target: str, out: Path, **options: object):
    return build(BuildOptions(model=path, target=target, precision="fp32", output=out, **options))


@pytest.mark.parametrize("case", CASES)
def test_recurrent_layers_build_for_every_backend_at_fp32(tmp_path, case):
    op, direction, options = CASES[case]
    path = _save(recurrent_model(op, direction, **options), tmp_path)
    for target in TARGETS:
        result = _build(path, target, tmp_path / target)
        accuracy = result.report["accuracy"]
        assert accuracy["passed"] and min(o["cosine"] for o in accuracy["outputs"].values()) >= 0.9999
        if options.get("states"):
            assert accuracy["stream"]["chunks"] == 8
            assert result.manifest["state"][0] == {"input": "h0", "output": "hn"}
        else:
            assert "stream" not in accuracy and "state" not in result.manifest


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_tflite_lstm_is_one_fused_op_per_direction(tmp_path, direction):
    """Without a used final cell state the LSTM is TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, and a
    call does not see the state of the one before (no variable state tensor left behind)."""
    model = recurrent_model("LSTM", direction, cell_output=False)
    path = _save(model, tmp_path)
    _build(path, "rpi4", tmp_path / "out")
    data = (tmp_path / "out" / "model.tflite").read_bytes()
    ops = read_model(data).op_names()
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == (2 if direction == "bidirectional" else 1)
    assert "LOGISTIC" not in ops and len(ops) <= 16
    graph = load_model(path)
    runner, reference = LiteRTRunner(data, graph), session(model)
    rng = np.random.default_rng(7)
    feeds = [{"x": rng.standard_normal((5, 1, 6)).astype(np.float32)} for _ in range(3)]
    for feed in [*feeds, feeds[0]]:
        got, want = runner(feed), run(reference, feed)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=2e-5)


def test_a_stateful_lstm_keeps_its_cell_state_output_exact_on_tflite(tmp_path):
    """A used Y_c (a streaming model's state output) is what the fused op keeps inside: the cells
    stay unrolled, and the state carried over 8 chunks matches ONNX Runtime's."""
    model = recurrent_model("LSTM", "forward", states=True)
    path = _save(model, tmp_path)
    _build(path, "rpi4", tmp_path / "out")
    data = (tmp_path / "out" / "model.tflite").read_bytes()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in read_model(data).op_names()
    graph = load_model(path)
    pairs = state_pairs(graph.inputs, graph.outputs)
    rng = np.random.default_rng(3)
    chunks = [{"x": rng.standard_normal((5, 1, 6)).astype(np.float32)} for _ in range(8)]
    zero = {p.input: np.zeros((1, 1, 8), np.float32) for p in pairs}
    got = run_stream(LiteRTRunner(data, graph), chunks, zero, pairs)
    reference = session(model)
    want = run_stream(lambda feeds: run(reference, feeds), chunks, zero, pairs)
    np.testing.assert_allclose(got[-1]["cn"], want[-1]["cn"], atol=1e-5)


@pytest.mark.parametrize("target", ["onnxruntime-cpu", "rpi4"])
def test_bundle_run_script_streams_and_carries_the_state(tmp_path, target):
    model = recurrent_model("GRU", "forward", states=True)
    out = tmp_path / "bundle"
    _build(_save(model, tmp_path), target, out)
    rng = np.random.default_rng(11)
    chunks = rng.standard_normal((6, 5, 1, 6)).astype(np.float32)
    np.savez(tmp_path / "chunks.npz", x=chunks)
    subprocess.run(
        [sys.executable, "run.py", "--stream", str(tmp_path / "chunks.npz")],
        cwd=out,
        check=True,
        capture_output=True,
    )
    with np.load(out / "outputs.npz") as saved:
        got = {name: saved[name] for name in saved.files}
    reference = session(model)
    pairs = state_pairs(
        load_model(tmp_path / "model.onnx").inputs, load_model(tmp_path / "model.onnx").outputs
    )
    want = run_stream(
        lambda feeds: run(reference, feeds),
        [{"x": c} for c in chunks],
        {"h0": np.zeros((1, 1, 8), np.float32)},
        pairs,
    )
    np.testing.assert_allclose(got["hn"], np.stack([w["hn"] for w in want]), atol=1e-5)
    assert json.loads((out / "manifest.json").read_text())["state"] == [{"input": "h0", "output": "hn"}]


def test_snpe_builds_lstm_and_names_the_runtime_table_for_gru(tmp_path):
    """SNPE takes batch-first graph inputs (its quantizer reads dim 0 as the batch)."""
    lstm = _save(recurrent_model("LSTM", "bidirectional", batch_first_input=True), tmp_path, "lstm.onnx")
    result = build(
        BuildOptions(
            model=lstm, target="snapdragon-8gen2", precision="fp32", output=tmp_path / "l", runtime="cpu"
        )
    )
    assert result.report["accuracy"]["passed"]
    gru = _save(recurrent_model("GRU", "forward", batch_first_input=True), tmp_path, "gru.onnx")
    with pytest.raises(UnsupportedOpError, match=r"GRU.*Gru layer runs on no runtime"):
        build(
            BuildOptions(
                model=gru, target="snapdragon-8gen2", precision="fp32", output=tmp_path / "g", runtime="cpu"
            )
        )


@pytest.mark.parametrize(("runtime", "precision"), [("cpu", "fp32"), ("gpu", "fp16"), ("htp", "fp16")])
def test_snpe_takes_a_bidirectional_state_of_dim_0_two_in_float(tmp_path, runtime, precision):
    """h0 [2, 1, 8] (directions first, as the Silero VAD's state): float DLCs take it, checked over
    an 8-chunk stream; quantized ones are refused before calibration (snpe-dlc-quantize wants dim 0 = 1)."""
    path = _save(recurrent_model("LSTM", "bidirectional", states=True, batch_first_input=True), tmp_path)
    options = {"model": path, "target": "snapdragon-8gen2", "runtime": runtime}
    result = build(BuildOptions(**options, precision=precision, output=tmp_path / "out"))
    assert result.report["accuracy"]["passed"] and result.report["accuracy"]["stream"]["chunks"] == 8
    if runtime == "htp":
        with pytest.raises(ShapeError, match=r"input 'h0' has shape \[2, 1, 8\].*snpe-dlc-quantize"):
            build(BuildOptions(**options, precision="int8", output=tmp_path / "int8"))


def test_state_pairs_follow_names_shapes_and_dtypes(tmp_path):
    model = recurrent_model("LSTM", "forward", states=True)
    graph = load_model(_save(model, tmp_path))
    assert [(p.input, p.output) for p in state_pairs(graph.inputs, graph.outputs)] == [
        ("h0", "hn"),
        ("c0", "cn"),
    ]
    assert state_pairs(graph.inputs[:1], graph.outputs) == []


def _npz(path: Path, seed: int, count: int, shape: tuple[int, ...]) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, x=np.clip(rng.standard_normal((count, *shape)), -3, 3).astype(np.float32))
    return path


@pytest.mark.parametrize("target", ["rpi4", "cortex-m7"])
def test_keyword_lstm_runs_fully_integer_with_a_16_bit_cell_state(tmp_path, target):
    """int8: the fused LSTM on TFLite's integer kernel (int8 weights and activations, int16 cell
    state), judged on inputs calibration never saw; on cortex-m7 the whole model is integer and
    the op resolver registers the LSTM."""
    path = _save(keyword_model(), tmp_path)
    result = build(
        BuildOptions(
            model=path,
            target=target,
            precision="int8",
            output=tmp_path / "out",
            sample_data=_npz(tmp_path / "check.npz", 2, 8, (1, 49, 10)),
            quantization=QuantizationOptions(calibration_data=_npz(tmp_path / "cal.npz", 1, 32, (1, 49, 10))),
        )
    )
    assert result.report["accuracy"]["judged"]["source"] == "check.npz"
    assert min(o["cosine"] for o in result.report["accuracy"]["outputs"].values()) >= 0.99
    model = read_model((tmp_path / "out" / "model.tflite").read_bytes())
    (lstm,) = [op for op in model.ops if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    types = [model.tensors[i].dtype for i in lstm.inputs if i >= 0]
    assert types[0] == "int8" and "int16" in types and "float32" not in types
    if target == "cortex-m7":
        # The LSTM's four gate "intermediate" tensors are empty (shape [0], no data) without layer norm.
        assert all(t.dtype != "float32" for t in model.tensors if 0 not in t.shape)
        assert "AddUnidirectionalSequenceLSTM" in (tmp_path / "out" / "op_resolver.h").read_text()


def test_a_bidirectional_lstm_at_int8_keeps_each_direction_at_its_own_scale(tmp_path):
    """Two fused integer LSTMs stacked: each output is requantized before PACK (it was 0.917-0.948),
    judged on inputs calibration never saw."""
    path = _save(recurrent_model("LSTM", "bidirectional", cell_output=False), tmp_path)
    result = build(
        BuildOptions(
            model=path,
            target="rpi4",
            precision="int8",
            output=tmp_path / "out",
            sample_data=_npz(tmp_path / "check.npz", 2, 8, (5, 1, 6)),
            quantization=QuantizationOptions(calibration_data=_npz(tmp_path / "cal.npz", 1, 32, (5, 1, 6))),
        )
    )
    assert min(o["cosine"] for o in result.report["accuracy"]["outputs"].values()) >= 0.99
    ops = read_model((tmp_path / "out" / "model.tflite").read_bytes()).op_names()
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2


def test_a_stateful_lstm_at_int8_is_refused_naming_why(tmp_path):
    path = _save(recurrent_model("LSTM", "forward", states=True), tmp_path)
    with pytest.raises(UnsupportedOpError, match=r"LSTM node .*final cell state is an output.*fp32"):
        build(BuildOptions(model=path, target="rpi4", precision="int8", output=tmp_path / "out"))


@pytest.mark.parametrize("target", ["jetson-agx-orin", "onnxruntime-cpu"])
def test_int8_builds_keep_recurrent_layers_in_float_and_say_so(tmp_path, target):
    """TensorRT and ONNX Runtime int8: the LSTM gets no Q/DQ; report.json names it and its precision."""
    path = _save(recurrent_model("LSTM", "bidirectional", batch_first_input=True), tmp_path)
    result = build(BuildOptions(model=path, target=target, precision="int8", output=tmp_path / "out"))
    backend = result.report["backend"]
    found = backend.get("float_recurrent_layers") or backend["int8"]["float_recurrent_layers"]
    assert found["layers"] == ["y"] and found["precision"].startswith("fp")
    assert result.report["accuracy"]["passed"]


def test_onnxruntime_int8_loads_a_qdq_matmul_on_per_step_outputs(tmp_path):
    """A 3-D MatMul input after the GRU (the akiki VAD's head): ONNX Runtime's MatMulAddFusion broke
    its own session on the opset-21 Q/DQ model; the int8 model is written at opset 20."""
    path = _save(gru_head_model(), tmp_path)
    result = build(
        BuildOptions(model=path, target="onnxruntime-cpu", precision="int8", output=tmp_path / "out")
    )
    assert result.report["accuracy"]["passed"] and result.report["accuracy"]["stream"]["chunks"] == 8
    assert onnx.load(tmp_path / "out" / "model.onnx").opset_import[0].version == 20


def test_calibration_of_a_stateful_model_carries_the_state(tmp_path):
    """Each calibration sample's state input is the state the chunk before it left, from zeros;
    an int8 build says so and passes its accuracy check."""
    model = recurrent_model("GRU", "forward", states=True)
    path = _save(model, tmp_path)
    graph = load_model(path)
    dataset = carry_state(graph, random_samples(graph.inputs, 6, 0))
    reference = session(model)
    state = np.zeros((1, 1, 8), np.float32)
    for sample in dataset.samples():
        np.testing.assert_allclose(sample["h0"], state, atol=1e-6)
        state = run(reference, {"x": sample["x"], "h0": state})["hn"]
    result = build(
        BuildOptions(model=path, target="onnxruntime-cpu", precision="int8", output=tmp_path / "out")
    )
    assert "state carried from chunk to chunk" in json.dumps(result.report["quantization"])
    assert result.report["accuracy"]["passed"]


def test_lstm_at_int16x8_is_unrolled_and_accurate(tmp_path):
    """int16x8: the converter's 16-bit activations on the unrolled cells (the fused op it makes at
    this precision fails to prepare)."""
    path = _save(recurrent_model("LSTM", "bidirectional", cell_output=False), tmp_path)
    result = build(BuildOptions(model=path, target="rpi4", precision="int16x8", output=tmp_path / "out"))
    assert min(o["cosine"] for o in result.report["accuracy"]["outputs"].values()) >= 0.999
    assert (
        "UNIDIRECTIONAL_SEQUENCE_LSTM"
        not in read_model((tmp_path / "out" / "model.tflite").read_bytes()).op_names()
    )
