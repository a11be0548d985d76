"""LayerNormalization and LSTM through the TFLite lowering: small ONNX models (onnx.helper), the
.tflite under LiteRT against ONNX Runtime (onnx.reference for the batch-major LSTM ONNX Runtime lacks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from frontend_support import make_model, save
from onnx import helper
from onnx.reference import ReferenceEvaluator

from edgec.backends.tflite.converter import Recipe, convert
from edgec.backends.tflite.delegation import xnnpack_delegation
from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.op_support import lowering_problems
from edgec.backends.tflite.representative_data import stored_feeds
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.data.samples import random_samples
from edgec.errors import UnsupportedOpError
from edgec.frontend import load_model
from edgec.ir import Graph
from edgec.passes import make_spec, run_passes
from edgec.pipeline import BuildOptions, build
from edgec.runtime import run, session


def _rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _layer_norm(shape: tuple[int, ...], axis: int, bias: bool) -> tuple[onnx.ModelProto, dict]:
    rng = np.random.default_rng(0)
    normalized = shape[axis % len(shape) :]
    inits = {"scale": rng.uniform(0.5, 1.5, normalized).astype(np.float32)}
    if bias:
        inits["bias"] = _rand(rng, *normalized)
    node = helper.make_node("LayerNormalization", ["x", *inits], ["y"], axis=axis, epsilon=1e-5)
    feeds = {"x": _rand(rng, *shape, scale=3.0) + 1.0}
    return make_model([node], feeds, 17, inits), feeds


def _lstm(
    direction: str = "forward",
    states: bool = False,
    peepholes: bool = False,
    outputs: tuple[str, ...] = ("Y", "Y_h", "Y_c"),
    layout: int = 0,
    **attrs: object,
) -> tuple[onnx.ModelProto, dict]:
    rng = np.random.default_rng(0)
    steps, batch, width, hidden = 6, 2, 5, 4
    dirs = 2 if direction == "bidirectional" else 1
    inits = {
        "W": _rand(rng, dirs, 4 * hidden, width, scale=0.5),
        "R": _rand(rng, dirs, 4 * hidden, hidden, scale=0.5),
        "B": _rand(rng, dirs, 8 * hidden, scale=0.5),
    }
    feeds = {"X": _rand(rng, batch, steps, width) if layout else _rand(rng, steps, batch, width)}
    names = ["X", "W", "R", "B", "", "", ""]
    if states:
        feeds |= {
            name: _rand(rng, *((batch, dirs, hidden) if layout else (dirs, batch, hidden)))
            for name in ("h0", "c0")
        }
        names[5:7] = ["h0", "c0"]
    if peepholes:
        inits["P"] = _rand(rng, dirs, 3 * hidden, scale=0.5)
        names.append("P")
    while not names[-1]:
        names.pop()
    wanted = [name if name in outputs else "" for name in ("Y", "Y_h", "Y_c")]
    while not wanted[-1]:
        wanted.pop()
    node = helper.make_node(
        "LSTM", names, wanted, hidden_size=hidden, direction=direction, layout=layout, **attrs
    )
    return make_model([node], feeds, 14, inits, outputs), feeds


def _graph(tmp_path: Path, model: onnx.ModelProto) -> Graph:
    graph = load_model(save(model, tmp_path))
    run_passes(graph, [make_spec("cleanup"), make_spec("layout")])
    return graph


def _convert(graph: Graph, precision: str = "fp32") -> bytes:
    samples = stored_feeds(graph, random_samples(graph.inputs, 8, 0))
    return convert(graph, Recipe(precision), lambda: samples, "model.onnx for target 'rpi4'")


def _like_calibration(graph: Graph) -> dict[str, np.ndarray]:
    """An input drawn like ``_convert``'s calibration samples (another seed): quantized models are
    only accurate inside their calibrated ranges."""
    return random_samples(graph.inputs, 1, 1).sample(0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _assert_agrees(expected: dict, got: dict, min_cosine: float) -> None:
    assert list(got) == list(expected)
    for name, want in expected.items():
        assert got[name].shape == want.shape, name
        assert _cosine(want, got[name]) >= min_cosine, name


LAYER_NORMS = {
    "last axis": ((2, 5, 16), -1, True),
    "last two axes, no bias": ((2, 5, 8), -2, False),
    "4-D from axis 1": ((1, 3, 4, 4), 1, True),
}


@pytest.mark.parametrize("case", LAYER_NORMS)
def test_layer_norm(tmp_path, case):
    model, feeds = _layer_norm(*LAYER_NORMS[case])
    graph = _graph(tmp_path, model)
    data = _convert(graph)
    _assert_agrees(run(session(model), feeds), LiteRTRunner(data, graph)(feeds), 0.9999)
    assert {"MEAN", "RSQRT"} <= set(read_model(data).op_names())
    assert xnnpack_delegation(data).left_out == ()


def test_layer_norm_int8(tmp_path):
    model, _ = _layer_norm((2, 5, 16), -1, True)
    graph = _graph(tmp_path, model)
    feeds = _like_calibration(graph)
    data = _convert(graph, "int8")
    model_ops = read_model(data)
    means = [op for op in model_ops.ops if op.name == "MEAN"]
    assert means and all(model_ops.tensors[op.outputs[0]].dtype == "int8" for op in means)
    _assert_agrees(run(session(model), feeds), LiteRTRunner(data, graph)(feeds), 0.999)


LSTMS = {
    "forward": {},
    "bidirectional, initial states": {"direction": "bidirectional", "states": True},
    "reverse, peepholes, Y_h only": {"direction": "reverse", "peepholes": True, "outputs": ("Y_h",)},
}


@pytest.mark.parametrize("case", LSTMS)
def test_lstm(tmp_path, case):
    model, feeds = _lstm(**LSTMS[case])
    graph = _graph(tmp_path, model)
    data = _convert(graph)
    _assert_agrees(run(session(model), feeds), LiteRTRunner(data, graph)(feeds), 0.9999)
    assert "FULLY_CONNECTED" in read_model(data).op_names()


def test_batch_major_lstm_against_onnx_reference(tmp_path):
    model, feeds = _lstm("bidirectional", states=True, layout=1)
    graph = _graph(tmp_path, model)
    outputs = ReferenceEvaluator(model).run(None, feeds)
    expected = dict(zip(("Y", "Y_h", "Y_c"), outputs, strict=True))
    _assert_agrees(expected, LiteRTRunner(_convert(graph), graph)(feeds), 0.9999)


PRECISIONS = {"int8-dynamic": 0.9999, "fp16": 0.999}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_lstm_at_the_precisions_it_converts_to(tmp_path, precision):
    model, _ = _lstm("bidirectional", states=True)
    graph = _graph(tmp_path, model)
    feeds = _like_calibration(graph)
    got = LiteRTRunner(_convert(graph, precision), graph)(feeds)
    _assert_agrees(run(session(model), feeds), got, PRECISIONS[precision])


def test_int8_lstm_is_refused_naming_node_and_target(tmp_path):
    graph = _graph(tmp_path, _lstm()[0])
    with pytest.raises(UnsupportedOpError, match=r"target 'rpi4'.*int8.*LSTM node 'Y'.*fp32"):
        _convert(graph, "int8")


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({"clip": 1.0}, "clip"),
        ({"input_forget": 1}, "input-forget"),
        ({"activations": ["Sigmoid", "Tanh", "Relu"]}, "activations"),
    ],
)
def test_lstm_variants_the_lowering_does_not_handle_are_reported(tmp_path, attrs, reason):
    graph = _graph(tmp_path, _lstm(**attrs)[0])
    (problem,) = lowering_problems(graph)
    assert problem.op == "LSTM" and reason in problem.reason


def test_edgec_build_layer_norm_int8_and_refuses_int8_lstm(tmp_path):
    """Through `edgec build` (the quantization engine's ranges): LayerNormalization passes the int8
    accuracy gate; an LSTM at int8 stops with the node, the target and the precisions to use."""
    norm = save(_layer_norm((2, 5, 16), -1, True)[0], tmp_path, "norm.onnx")
    result = build(BuildOptions(model=norm, target="rpi4", precision="int8", output=tmp_path / "norm"))
    assert min(o["cosine"] for o in result.report["accuracy"]["outputs"].values()) >= 0.99
    lstm = save(_lstm()[0], tmp_path, "lstm.onnx")
    with pytest.raises(UnsupportedOpError, match=r"lstm for target 'rpi4'.*LSTM node 'Y'.*int8-dynamic"):
        build(BuildOptions(model=lstm, target="rpi4", precision="int8", output=tmp_path / "lstm"))
