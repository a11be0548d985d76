"""The per-layer int8 debugger: a layer whose scale is corrupted is named first, by the table, the
float islands, `edgec compare` and the failing build's message."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.cli import main
from edgec.data.datasets import Dataset
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.quantization import quantize_graph
from edgec.quantization.debug import compare_tensors, float_islands
from edgec.quantization.parameters import CalibrationConfig, calibrate
from edgec.quantization.qdq import quantize_qdq
from edgec.quantization.quantize_graph import quantize
from edgec.quantization.scheme import QuantScheme

CHANNELS = (3, 8, 8, 8, 1)
BROKEN = "conv3"
LOGIT_GAIN = 8.0  # sharp probabilities, as a trained detector's map


def probability_map(path: Path) -> Path:
    """Four 3x3 convolutions with ReLUs, then a sigmoid: a segmentation-style probability map."""
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "x"
    for index, (c_in, c_out) in enumerate(pairwise(CHANNELS), 1):
        weight = (
            rng.standard_normal((c_out, c_in, 3, 3))
            * np.sqrt(2 / (9 * c_in))
            * (LOGIT_GAIN if c_out == 1 else 1)
        )
        inits += [
            numpy_helper.from_array(weight.astype(np.float32), f"w{index}"),
            numpy_helper.from_array((rng.standard_normal(c_out) * 0.1).astype(np.float32), f"b{index}"),
        ]
        out = f"t{index}" if c_out > 1 else "logits"
        nodes.append(
            helper.make_node("Conv", [x, f"w{index}", f"b{index}"], [out], f"conv{index}", pads=[1] * 4)
        )
        if c_out > 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{index}"], f"relu{index}"))
            x = f"r{index}"
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["prob"], "sigmoid"))
    return save(path, nodes, inits, ("x", [1, 3, 16, 16]), ("prob", [1, 1, 16, 16]))


def save(path: Path, nodes: list, inits: list, x: tuple[str, list[int]], y: tuple[str, list[int]]) -> Path:
    """An opset-17 model of ``nodes`` with input ``x`` and output ``y`` (name, shape), saved at ``path``."""
    inputs = [helper.make_tensor_value_info(x[0], TensorProto.FLOAT, x[1])]
    outputs = [helper.make_tensor_value_info(y[0], TensorProto.FLOAT, y[1])]
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def inputs(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 1, 3, 16, 16)).astype(np.float32)


def corrupt(graph, layer: str = BROKEN, factor: float = 0.02) -> None:
    weight = graph.node_by_name(layer).input(1)
    weight.quant = replace(weight.quant, scale=weight.quant.scale * factor)


@pytest.fixture
def broken_calibration(monkeypatch) -> None:
    """Builds calibrate as usual, then ``corrupt`` the BROKEN layer's weight scale."""
    real = quantize_graph.calibrate

    def broken(graph, *args, **kwargs):
        found = real(graph, *args, **kwargs)
        corrupt(graph)
        return found

    monkeypatch.setattr(quantize_graph, "calibrate", broken)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return probability_map(tmp_path_factory.mktemp("debug") / "map.onnx")


def test_the_corrupted_layer_is_the_first_jump_and_the_first_island(model):
    graph = load_model(model, {})
    run_passes(graph, [make_spec("cleanup")])
    result = quantize(graph, Dataset({"x": inputs(32, 0)}, "calibration"))
    checks = Dataset({"x": inputs(8, 1)}, "check")
    healthy = compare_tensors(result.float_graph, result.qdq, list(checks.samples()))
    assert healthy.first_jump() is None, healthy.as_dict()
    corrupt(result.float_graph)
    placement = result.calibration.scheme.placement
    result.qdq = quantize_qdq(result.float_graph, placement, rounded=result.rounded)
    table = compare_tensors(result.float_graph, result.qdq, list(checks.samples()))
    jump = table.first_jump()
    assert jump is not None and jump.layer == BROKEN
    # Between the Convs: the Mul of the channel scales and the Add of the centring (edgec.quantization.grids).
    assert [t.layer for t in table.tensors if t.op == "Conv"] == ["conv1", "conv2", "conv3", "conv4"]
    assert all(not t.jump for t in table.tensors[: table.tensors.index(jump)])
    islands = float_islands(result, checks, count=2)
    assert islands["islands"][0]["layer"] == BROKEN
    assert islands["islands"][0]["outputs_snr_db"] > islands["outputs_snr_db"] + 10


def _calibration(folder: Path) -> Path:
    path = folder / "calibration.npz"
    np.savez(path, x=inputs(40, 0))
    return path


def test_a_healthy_int8_build_passes(model, tmp_path):
    out = tmp_path / "b"
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--precision", "int8", "-o", str(out)]
    assert main([*argv, "--calibration-data", str(_calibration(tmp_path))]) == 0
    report = json.loads((out / "report.json").read_text())
    accuracy = report["accuracy"]
    assert accuracy["passed"] and accuracy["judged"]["indices"] == {"first": 32, "last": 39}
    assert accuracy["calibrated"] == {
        "source": "calibration.npz",
        "count": 32,
        "indices": {"first": 0, "last": 31},
    }
    assert report["quantization"]["calibration"]["samples"] == 32
    assert report["quantization"]["validation"]["samples"] == 8


def test_a_broken_build_fails_naming_the_output_and_the_layer(model, tmp_path, broken_calibration, capsys):
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "--precision", "int8", "-o", str(tmp_path / "b")]
    assert main([*argv, "--calibration-data", str(_calibration(tmp_path))]) == 7
    err = capsys.readouterr().err
    cosine = re.search(r"output 'prob': cosine (\S+) < 0.99", err)
    assert cosine is not None and float(cosine[1]) < 0.9, err
    assert f"the error first jumps at layer '{BROKEN}' (Conv)" in err
    assert not (tmp_path / "b").exists()


def test_edgec_compare_names_the_broken_layer(model, tmp_path, broken_calibration, capsys):
    argv = ["compare", str(model), "-t", "onnxruntime-cpu", "--calibration-data", str(_calibration(tmp_path))]
    assert main([*argv, "--islands", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tensors"]["first_jump"]["layer"] == BROKEN
    assert report["float_islands"]["islands"][0]["layer"] == BROKEN
    assert report["judged"]["count"] == 8 and report["calibrated"]["count"] == 32
    assert main([*argv, "--islands", "1"]) == 0
    text = capsys.readouterr().out
    assert f"<==  {BROKEN} (Conv)" in text and f"keep '{BROKEN}' (Conv) in float" in text


def test_edgec_compare_refuses_a_float_precision(model, capsys):
    assert main(["compare", str(model), "-t", "onnxruntime-cpu", "--precision", "fp32"]) == 2
    assert "edgec compare debugs quantized builds (int8)" in capsys.readouterr().err


def rescaled_channels(path: Path) -> Path:
    """A 1x1 Conv (identity weights), then a per-channel Mul that weights channel 0 by 1e4 and channel 1
    by 1e-4 (as the channel scales of edgec.quantization.grids do, less extreme), then a 1x1 Conv."""
    eye = np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1)
    scales = np.array([1e4, 1e-4], np.float32).reshape(1, 2, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["t1"], "conv1"),
        helper.make_node("Mul", ["t1", "s"], ["t2"], "scale"),
        helper.make_node("Conv", ["t2", "w2"], ["y"], "conv2"),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((eye, "w1"), (scales, "s"), (eye, "w2"))]
    return save(path, nodes, inits, ("x", [1, 2, 8, 8]), ("y", [1, 2, 8, 8]))


def test_a_float_node_that_only_reweights_channels_is_not_a_jump(tmp_path):
    """Channel 0 of the input is 1000x smaller than channel 1, so the per-tensor int8 grid before conv1
    all but erases it: conv1's output is fine on the whole (channel 1 dominates) and the Mul, which
    rounds nothing, makes channel 0 dominate. The SNR falls far at the Mul, but the error was made
    at conv1's quantized input: no jump at the Mul (before: the Mul was the first jump)."""
    graph = load_model(rescaled_channels(tmp_path / "m.onnx"), {})
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (16, 1, 2, 8, 8)).astype(np.float32)
    x[:, :, 0] *= 1e-3
    data = Dataset({"x": x}, "calibration")
    calibrate(graph, data, CalibrationConfig(method="minmax", bias_correction=False), QuantScheme())
    table = compare_tensors(graph, quantize_qdq(graph, "tensorrt"), list(data.samples()))
    snr = {t.layer: t.snr_db for t in table.tensors}
    assert snr["conv1"] > 30 and snr["scale"] < 10, snr
    assert table.first_jump() is None, table.as_dict()
