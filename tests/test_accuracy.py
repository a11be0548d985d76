"""The accuracy check: aggregates over the samples gated per output, non-finite values, thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgec.accuracy import Threshold, compare, gate, parse_threshold
from edgec.cli import main
from edgec.data.datasets import Dataset
from edgec.errors import UsageError


def _samples(arrays: list[np.ndarray]) -> Dataset:
    return Dataset({"x": np.stack(arrays)}, "test", indices=range(len(arrays)))


def _identity(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"y": feeds["x"]}


def test_one_hard_sample_is_reported_not_gated():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((1, 64)).astype(np.float32) for _ in range(10)]

    def artifact(feeds):
        x = feeds["x"]
        noise = 0.2 if np.array_equal(x, arrays[3]) else 0.0
        return {"y": x + noise * np.random.default_rng(1).standard_normal(x.shape)}

    result = compare(_identity, artifact, _samples(arrays), "int8", [Threshold("top1", 0.0)])
    out = result["outputs"]["y"]
    assert result["passed"], result["failures"]
    assert out["worst_sample"]["cosine_sample"] == 3 and out["worst_sample"]["cosine"] < 0.99 < out["cosine"]


def test_a_gain_error_cosine_cannot_see_fails_on_snr():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((1, 64)).astype(np.float32) for _ in range(10)]

    def artifact(feeds):
        return {"y": feeds["x"] * 1.02}  # cosine 1, SNR 34 dB: below fp32's 35 dB

    result = compare(_identity, artifact, _samples(arrays), "fp32")
    assert not result["passed"]
    assert result["outputs"]["y"]["cosine"] == 1.0
    assert result["failures"] == [f"output 'y': snr {result['outputs']['y']['snr_db']:.6g} < 35"]


def test_class_scores_gate_top1_agreement():
    """Near-tied logits swapped in 3 of 8 samples: cosine ~1, top-1 agreement 62.5 % < 75 %."""
    rng = np.random.default_rng(2)
    logits = [rng.standard_normal((1, 10)).astype(np.float32) for _ in range(8)]
    for x in logits:
        order = np.argsort(-x[0])
        x[0, order[1]] = x[0, order[0]] - 1e-3

    def artifact(feeds):
        x = feeds["x"].copy()
        if any(np.array_equal(feeds["x"], y) for y in logits[:3]):
            order = np.argsort(-x[0])
            x[0, order[0]], x[0, order[1]] = x[0, order[1]], x[0, order[0]]
        return {"y": x}

    result = compare(_identity, artifact, _samples(logits), "int8")
    assert result["outputs"]["y"]["top1"] == 62.5 and result["outputs"]["y"]["cosine"] > 0.9999
    assert result["failures"] == ["output 'y': top1 62.5 < 75"]
    assert compare(_identity, artifact, _samples(logits), "int8", [parse_threshold("y:top1=60")])["passed"]


def test_inf_in_the_artifact_fails_with_its_count():
    arrays = [np.ones((1, 4), np.float32)] * 3

    def artifact(feeds):
        out = feeds["x"].copy()
        out[0, 1] = np.inf
        return {"y": out}

    result = compare(_identity, artifact, _samples(arrays), "fp16")
    assert not result["passed"]
    assert result["failures"][0] == "output 'y': 3 value(s) Inf or NaN where the input model's are finite"


def test_nan_in_the_reference_is_compared_position_by_position():
    arrays = [np.array([[np.nan, 1.0, 2.0]], np.float32)] * 2
    assert compare(_identity, _identity, _samples(arrays), "fp32")["passed"]
    wrong = compare(_identity, lambda f: {"y": np.nan_to_num(f["x"])}, _samples(arrays), "fp32")
    assert wrong["failures"] == [
        "output 'y': 2 of the input model's 2 NaN/Inf value(s) differ in the artifact"
    ]


def test_thresholds_parse_and_override():
    assert parse_threshold("cosine=0.995") == Threshold("cosine", 0.995)
    assert parse_threshold("Identity:0:SNR=20") == Threshold("snr", 20.0, "Identity:0")
    assert gate("int8", [Threshold("snr", 20.0), Threshold("snr", 9.0, "p")], "p")["snr"] == 9.0
    assert gate("int8", [Threshold("snr", 20.0), Threshold("snr", 9.0, "p")], "q")["snr"] == 20.0
    assert gate("fp32", [], "q") == {"cosine": 0.9999, "snr": 35.0}
    for text in ("cosine", "psnr=3", "top1=101", "cosine=nan", ":cosine=1"):
        with pytest.raises(UsageError):
            parse_threshold(text)


def _model(path: Path, nodes: list, inits: list, out_dtype: int = TensorProto.FLOAT) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", out_dtype, [1, 16])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_fp16_overflow_to_inf_fails(tmp_path, capsys):
    """y = x * 1e5 * 1e-5: fp16 overflows to Inf between the two Muls (issue 19)."""
    inits = [
        helper.make_tensor("a", TensorProto.FLOAT, [], [1e5]),
        helper.make_tensor("b", TensorProto.FLOAT, [], [1e-5]),
    ]
    nodes = [helper.make_node("Mul", ["x", "a"], ["t"]), helper.make_node("Mul", ["t", "b"], ["y"])]
    model = _model(tmp_path / "overflow.onnx", nodes, inits)
    argv = ["build", str(model), "-t", "jetson-orin-nano", "--precision", "fp16", "-o", str(tmp_path / "b")]
    assert main(argv) == 7
    err = capsys.readouterr().err
    assert "output 'y':" in err and "Inf or NaN where the input model's are finite" in err
    assert not (tmp_path / "b").exists()


def test_nan_in_the_reference_passes_an_exact_copy(tmp_path):
    """Log of the negative half of the random inputs: NaN where NaN agrees and is reported."""
    model = _model(tmp_path / "log.onnx", [helper.make_node("Log", ["x"], ["y"])], [])
    out = tmp_path / "b"
    assert main(["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out)]) == 0
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    counts = accuracy["outputs"]["y"]["nonfinite"]
    assert accuracy["passed"] and counts["reference_nonfinite"] > 0
    assert counts["reference_nonfinite_disagreeing"] == 0
    assert accuracy["outputs"]["y"]["cosine"] == 1.0


def test_accuracy_threshold_option(tmp_path, capsys):
    model = _model(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])], [])
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(tmp_path / "b")]
    assert main([*argv, "--accuracy-threshold", "nope:cosine=0.9"]) == 2
    assert "has no output 'nope'" in capsys.readouterr().err
    assert main([*argv, "--accuracy-threshold", "y:snr=50", "--accuracy-threshold", "cosine=0.99999"]) == 0
    thresholds = json.loads((tmp_path / "b" / "report.json").read_text())["accuracy"]["thresholds"]
    assert thresholds == {"y": {"cosine": 0.99999, "snr": 50.0}}
