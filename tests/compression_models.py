"""A small CNN trained on scikit-learn's digits, for the compression tests and bench/compression.py.

Training is plain numpy (digits_training.py: im2col convolutions, Adam) and
takes a few seconds; ``digits_cnn`` caches the result per process. The model
is written as a real ONNX file (opset 13, batch 1) and loaded through the
frontend like any user model.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import digits_training as dt
import numpy as np
import onnx
from onnx import helper

from edgec.compression.pass_inputs import run_all
from edgec.frontend import load_model
from edgec.ir import Graph
from edgec.passes import make_spec, run_passes

SHAPES = {"w1": (16, 1, 3, 3), "w2": (32, 16, 3, 3), "w3": (512, 64), "w4": (64, 10)}


@dataclass(frozen=True)
class Digits:
    params: dict[str, np.ndarray]
    x_train: np.ndarray  # [N, 1, 8, 8] float32 in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def feeds(self, images: np.ndarray) -> list[dict[str, np.ndarray]]:
        return [{"image": image[None]} for image in images]


def _forward(p: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    z1, c1 = dt.conv(x, p["w1"], p["b1"], 1)
    h1 = dt.relu(z1)  # [N, 64, 16]
    z2, c2 = dt.conv(dt.to_image(h1), p["w2"], p["b2"], 2)
    h2 = dt.relu(z2)  # [N, 16, 32]
    f = dt.to_image(h2).reshape(len(x), -1)
    h3 = dt.relu(f @ p["w3"] + p["b3"])
    return h3 @ p["w4"] + p["b4"], {"c1": c1, "h1": h1, "c2": c2, "h2": h2, "f": f, "h3": h3}


def _gradients(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logits, s = _forward(p, x)
    d4 = dt.softmax_cross_entropy_grad(logits, y)
    g = {}
    g["w4"], g["b4"] = dt.dense_grads(s["h3"], d4)
    d3 = (d4 @ p["w4"].T) * (s["h3"] > 0)
    g["w3"], g["b3"] = dt.dense_grads(s["f"], d3)
    d2 = dt.to_pixels(d3 @ p["w3"].T, 32) * (s["h2"] > 0)
    g["w2"], g["b2"] = dt.conv_grads(d2, s["c2"], p["w2"])
    da1 = dt.conv_input_grad(d2, p["w2"], (len(y), 16, 8, 8), 2)
    d1 = dt.to_pixels(da1, 16) * (s["h1"] > 0)
    g["w1"], g["b1"] = dt.conv_grads(d1, s["c1"], p["w1"])
    return g


@functools.lru_cache(maxsize=1)
def digits_cnn() -> Digits:
    x_train, y_train, x_test, y_test = dt.digits_split(1400)
    params = dt.train(SHAPES, _gradients, x_train, y_train, epochs=20, batch=64, lr=3e-3)
    return Digits(params, x_train, y_train, x_test, y_test)


def digits_onnx(digits: Digits) -> onnx.ModelProto:
    nodes = [
        dt.conv_node("conv1", ["image", "w1", "b1"], "c1", 1),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        dt.conv_node("conv2", ["r1", "w2", "b2"], "c2", 2),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["g3"], name="fc1"),
        helper.make_node("Relu", ["g3"], ["r3"], name="relu3"),
        helper.make_node("Gemm", ["r3", "w4", "b4"], ["logits"], name="fc2"),
    ]
    return dt.onnx_model(nodes, digits.params, 13)


def build_argv(model: Path, out: Path, samples: Path) -> list[str]:
    """``edgec build`` of ``model`` for onnxruntime-cpu into ``out``, with ``samples`` as its sample data."""
    return ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out), "--sample-data", str(samples)]


def write_digits_model(digits: Digits, path: Path) -> Path:
    onnx.save(digits_onnx(digits), path)
    return path


@functools.lru_cache(maxsize=1)
def _digits_graph_cached() -> Graph:
    digits = digits_cnn()
    onnx_bytes = digits_onnx(digits).SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digits_cnn.onnx"
        path.write_bytes(onnx_bytes)
        graph = load_model(path, {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup")])
    return graph


def digits_graph() -> Graph:
    """The digits CNN as IR after cleanup (a fresh copy each call)."""
    return copy.deepcopy(_digits_graph_cached())


def graph_accuracy(graph: Graph, digits: Digits) -> float:
    """Top-1 accuracy of the IR under ONNX Runtime on the held-out digits."""
    outputs = run_all(graph, digits.feeds(digits.x_test))
    predicted = np.array([next(iter(out.values())).argmax() for out in outputs])
    return float(np.mean(predicted == digits.y_test))


def write_calibration(digits: Digits, path: Path, count: int = 256) -> Path:
    """The first ``count`` training images as an .npz for the passes' ``calibration`` option."""
    np.savez(path, image=digits.x_train[:count, None])
    return path
