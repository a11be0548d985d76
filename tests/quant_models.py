"""A small CNN trained on scikit-learn's digits with numpy, for the quantization tests.

conv 3x3 (1->8) + ReLU, conv 3x3 stride 2 (8->16) + ReLU, a residual block
(conv 3x3 16->16, Add, ReLU), flatten, Gemm to 10 classes. Trained with
Adam (digits_training.py) on 80 % of the digits (8x8 images scaled to
[0, 1]) in a few seconds; about 97 % accurate on the other 20 %.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import digits_training as dt
import numpy as np
import onnx
from onnx import helper

SHAPES = {"w1": (8, 1, 3, 3), "w2": (16, 8, 3, 3), "w3": (16, 16, 3, 3), "wf": (256, 10)}


@dataclass(frozen=True)
class Digits:
    weights: dict[str, np.ndarray]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """A 3x3 convolution with padding 1 in NCHW, and its im2col patches."""
    out, cols = dt.conv(x, weight, bias, stride)
    return dt.to_image(out), cols


def _forward(p: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    z1, c1 = dt.conv(x, p["w1"], p["b1"], 1)
    h1 = dt.relu(z1)
    z2, c2 = dt.conv(dt.to_image(h1), p["w2"], p["b2"], 2)
    h2 = dt.relu(z2)
    z3, c3 = dt.conv(dt.to_image(h2), p["w3"], p["b3"], 1)
    h3 = dt.relu(z3 + h2)
    flat = dt.to_image(h3).reshape(len(x), -1)
    cache = {"c1": c1, "h1": h1, "c2": c2, "h2": h2, "c3": c3, "h3": h3, "flat": flat}
    return flat @ p["wf"] + p["bf"], cache


def _gradients(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logits, s = _forward(p, x)
    d_logits = dt.softmax_cross_entropy_grad(logits, y)
    g = {}
    g["wf"], g["bf"] = dt.dense_grads(s["flat"], d_logits)
    d_h3 = dt.to_pixels(d_logits @ p["wf"].T, 16) * (s["h3"] > 0)
    g["w3"], g["b3"] = dt.conv_grads(d_h3, s["c3"], p["w3"])
    d_h2 = dt.to_pixels(dt.conv_input_grad(d_h3, p["w3"], (len(y), 16, 4, 4), 1), 16)
    d_z2 = (d_h2 + d_h3) * (s["h2"] > 0)
    g["w2"], g["b2"] = dt.conv_grads(d_z2, s["c2"], p["w2"])
    d_h1 = dt.to_pixels(dt.conv_input_grad(d_z2, p["w2"], (len(y), 8, 8, 8), 2), 8)
    g["w1"], g["b1"] = dt.conv_grads(d_h1 * (s["h1"] > 0), s["c1"], p["w1"])
    return g


def predict(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return _forward(p, x)[0]


@functools.cache
def train_digits(epochs: int = 12, seed: int = 0) -> Digits:
    """Train once per process (a few seconds)."""
    x_train, y_train, x_test, y_test = dt.digits_split(1437)
    weights = dt.train(SHAPES, _gradients, x_train, y_train, epochs=epochs, batch=32, lr=0.005, seed=seed)
    return Digits(weights, x_train, y_train, x_test, y_test)


def digits_onnx(digits: Digits, path: Path) -> Path:
    """The trained CNN as an ONNX model with input 'image' [1, 1, 8, 8] and output 'logits' [1, 10]."""
    nodes = [
        dt.conv_node("conv1", ["image", "w1", "b1"], "z1", 1),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        dt.conv_node("conv2", ["h1", "w2", "b2"], "z2", 2),
        helper.make_node("Relu", ["z2"], ["h2"], name="relu2"),
        dt.conv_node("conv3", ["h2", "w3", "b3"], "z3", 1),
        helper.make_node("Add", ["z3", "h2"], ["s3"], name="residual"),
        helper.make_node("Relu", ["s3"], ["h3"], name="relu3"),
        helper.make_node("Flatten", ["h3"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], name="fc"),
    ]
    onnx.save_model(dt.onnx_model(nodes, digits.weights, 17), path)
    return path


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Images as an .npz keyed by the model's input name, stacked [N, 1, 1, 8, 8]."""
    arrays = {"image": images[:, None]}
    if labels is not None:
        arrays["labels"] = labels
    np.savez(path, **arrays)
    return path


def digits_int8_report(tmp_path: Path, *flags: str) -> dict:
    """report.json of an onnxruntime-cpu int8 build of the digits CNN (256 training digits calibrate,
    the test split validates) with ``flags`` added; the build must succeed."""
    from edgec.cli import main

    digits = train_digits()
    model = digits_onnx(digits, tmp_path / "digits.onnx")
    calibration = save_npz(tmp_path / "calibration.npz", digits.x_train[:256])
    validation = save_npz(tmp_path / "validation.npz", digits.x_test, digits.y_test)
    out = tmp_path / "bundle"
    args = ["build", str(model), "-t", "onnxruntime-cpu", "--precision", "int8", "-o", str(out)]
    data = ["--calibration-data", str(calibration), "--validation-data", str(validation)]
    assert main([*args, *data, *flags]) == 0
    return json.loads((out / "report.json").read_text())
