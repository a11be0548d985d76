"""TFLite int8 on model families beyond CNN classifiers, with small onnx.helper models.

- Sigmoid and Softmax outputs: TFLite's integer kernels fix their output grids (scale 1/256, zero
  point -128 for int8, 0 for uint8); the engine's simulation, the .tflite and the manifest agree.
  A Softmax's input is quantized over its whole observed range (no clipped winners).
- A written-out LayerNorm (ReduceMean, Pow, Sqrt, Div) converts with its Pow/Sqrt/Div in float
  on rpi4, named in report.json; an integer-only target (cortex-m7) refuses it, naming the op.
- An int32 input feeding a Gather embedding passes through calibration untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from ai_edge_litert.interpreter import Interpreter
from onnx import TensorProto, helper, numpy_helper

from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.cli import main
from edgec.frontend import load_model
from edgec.quantization import Dataset, calibrate, quantize_qdq
from edgec.quantization.evaluation import run_dataset
from edgec.quantization.islands import float_islands


def _save(path: Path, nodes: list, inputs: list, outputs: list, weights: dict[str, np.ndarray]) -> Path:
    graph = helper.make_graph(
        nodes, path.stem, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in weights.items()]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _rng_weight(seed: int, *shape: int, scale: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def probability_model(path: Path) -> Path:
    """x [1, 3, 16, 16] -> Conv -> Sigmoid (a probability map) and -> pooled Gemm -> Softmax.
    The map's logits reach +-20, so most of it saturates, as a DB text detector's does."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["logits"], ["prob_map"]),
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fc_b"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probs"], axis=1),
    ]
    weights = {
        "w": _rng_weight(1, 1, 3, 3, 3, scale=3.0),
        "b": np.zeros(1, np.float32),
        "fc": _rng_weight(2, 3, 5, scale=4.0),
        "fc_b": np.zeros(5, np.float32),
    }
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])]
    outputs = [
        helper.make_tensor_value_info("prob_map", TensorProto.FLOAT, [1, 1, 16, 16]),
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 5]),
    ]
    return _save(path, nodes, inputs, outputs, weights)


def layernorm_model(path: Path) -> Path:
    """x [1, 8, 16] -> MatMul -> written-out LayerNorm over the last axis -> MatMul."""
    eps, two = np.array(1e-5, np.float32), np.array(2.0, np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("ReduceMean", ["h"], ["mean"], axes=[-1]),
        helper.make_node("Sub", ["h", "mean"], ["centred"]),
        helper.make_node("Pow", ["centred", "two"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=[-1]),
        helper.make_node("Add", ["variance", "eps"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["deviation"]),
        helper.make_node("Div", ["centred", "deviation"], ["normalized"]),
        helper.make_node("MatMul", ["normalized", "w2"], ["y"]),
    ]
    weights = {"w1": _rng_weight(3, 16, 16), "w2": _rng_weight(4, 16, 4), "eps": eps, "two": two}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 4])]
    return _save(path, nodes, inputs, outputs, weights)


def token_model(path: Path) -> Path:
    """ids int32 [1, 12] -> Gather (embedding 40 x 6) -> MatMul -> Relu -> ReduceMean -> Gemm."""
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["embedded"]),
        helper.make_node("MatMul", ["embedded", "w"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("Gemm", ["pooled", "fc", "fc_b"], ["scores"]),
    ]
    weights = {
        "table": _rng_weight(5, 40, 6),
        "w": _rng_weight(6, 6, 8),
        "fc": _rng_weight(7, 8, 3),
        "fc_b": np.zeros(3, np.float32),
    }
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT32, [1, 12])]
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])]
    return _save(path, nodes, inputs, outputs, weights)


def _images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 1, 3, 16, 16)).astype(np.float32)


def _build(model: Path, out: Path, target: str, calibration: Path, samples: Path, *extra: str) -> int:
    argv = ["build", str(model), "-t", target, "--precision", "int8", "-o", str(out)]
    argv += ["--calibration-data", str(calibration), "--sample-data", str(samples), "--no-reconstruct"]
    return main([*argv, *extra])


def test_sigmoid_and_softmax_outputs_take_tflites_fixed_grids_in_engine_and_tflite(tmp_path):
    model = probability_model(tmp_path / "prob.onnx")
    np.savez(tmp_path / "cal.npz", x=_images(16, 0))
    np.savez(tmp_path / "val.npz", x=_images(8, 1))
    # The engine: fixed parameters whatever the data's range, in the simulation too.
    graph = load_model(model, {}, default_batch=1)
    dataset = Dataset({"x": _images(16, 0)}, "uniform")
    calibration = calibrate(graph, dataset, scheme=TFLITE_SCHEME)
    for name in ("prob_map", "probs"):
        assert calibration.ranges[name] == (0.0, 255 / 256)
        assert float(graph.values[name].quant.scale) == pytest.approx(1 / 256)
        assert int(graph.values[name].quant.zero_point) == -128
    # The Softmax's input keeps its winners: its whole observed range, not the method's clipped one.
    scores = calibration.statistics.tensors["scores"]
    assert calibration.ranges["scores"] == (scores.minimum, scores.maximum)
    simulated = run_dataset(quantize_qdq(graph, "all"), dataset)["prob_map"]
    assert np.allclose(simulated * 256, np.round(simulated * 256), atol=1e-3)  # on the 1/256 grid
    # The .tflite of an integer-only target (int8 I/O) ends in those grids, and passes the check.
    for target, dtype, zero in (("coral-edgetpu", np.uint8, 0), ("rpi4", np.float32, None)):
        out = tmp_path / target
        assert _build(model, out, target, tmp_path / "cal.npz", tmp_path / "val.npz") == 0
        interpreter = Interpreter(model_path=str(out / "model.tflite"))
        for detail in interpreter.get_output_details():
            assert detail["dtype"] == dtype
            if zero is not None:
                scale, zero_point = detail["quantization"]
                assert (scale, zero_point) == (pytest.approx(1 / 256), zero)
        manifest = json.loads((out / "manifest.json").read_text())
        report = json.loads((out / "report.json").read_text())
        assert all(o["cosine"] >= 0.99 for o in report["accuracy"]["outputs"].values())
        assert manifest["outputs"]


def test_written_out_layernorm_keeps_float_islands_on_rpi4_and_is_refused_on_cortex_m7(tmp_path, capsys):
    model = layernorm_model(tmp_path / "ln.onnx")
    graph = load_model(model, {}, default_batch=1)
    assert [(i.op, i.node) for i in float_islands(graph)] == [
        ("Pow", "squared"),
        ("ReduceMean", "variance"),
        ("Add", "shifted"),
        ("Sqrt", "deviation"),
        ("Div", "normalized"),
    ]
    x = np.random.default_rng(0).standard_normal((24, 1, 8, 16)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=x[:16])
    np.savez(tmp_path / "val.npz", x=x[16:])
    assert _build(model, tmp_path / "rpi4", "rpi4", tmp_path / "cal.npz", tmp_path / "val.npz") == 0
    report = json.loads((tmp_path / "rpi4" / "report.json").read_text())
    islands = report["quantization"]["float_islands"]
    assert [i["node"] for i in islands] == ["squared", "variance", "shifted", "deviation", "normalized"]
    assert report["accuracy"]["outputs"]["y"]["cosine"] >= 0.99
    code = _build(model, tmp_path / "mcu", "cortex-m7", tmp_path / "cal.npz", tmp_path / "val.npz")
    err = capsys.readouterr().err
    assert code == 4 and "cortex-m7" in err and "Sqrt node 'deviation'" in err
    assert not (tmp_path / "mcu").exists()


def test_integer_input_passes_through_calibration_untouched(tmp_path):
    model = token_model(tmp_path / "tokens.onnx")
    ids = np.random.default_rng(0).integers(0, 40, (24, 1, 12)).astype(np.int32)
    np.savez(tmp_path / "cal.npz", ids=ids[:16])
    np.savez(tmp_path / "val.npz", ids=ids[16:])
    graph = load_model(model, {}, default_batch=1)
    calibration = calibrate(graph, Dataset({"ids": ids[:16]}, "ids"), scheme=TFLITE_SCHEME)
    assert "ids" not in calibration.ranges and graph.values["ids"].quant is None
    assert "embedded" in calibration.ranges  # the float parts are calibrated
    out = tmp_path / "rpi4"
    assert _build(model, out, "rpi4", tmp_path / "cal.npz", tmp_path / "val.npz") == 0
    detail = Interpreter(model_path=str(out / "model.tflite")).get_input_details()[0]
    assert detail["dtype"] == np.int32 and detail["quantization"] == (0.0, 0)
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["outputs"]["scores"]["cosine"] >= 0.99
