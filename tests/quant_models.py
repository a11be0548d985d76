"""A small CNN trained on scikit-learn's digits with numpy, for the quantization tests.

conv 3x3 (1->8) + ReLU, conv 3x3 stride 2 (8->16) + ReLU, a residual block
(conv 3x3 16->16, Add, ReLU), flatten, Gemm to 10 classes. Trained with
Adam on 80 % of the digits (8x8 images scaled to [0, 1]) in a few seconds;
about 97 % accurate on the other 20 %.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

F32 = np.float32


@dataclass(frozen=True)
class Digits:
    weights: dict[str, np.ndarray]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _cols(x: np.ndarray, stride: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, h, w = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9), (n, h, w)


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> tuple[np.ndarray, tuple]:
    cols, (n, h, w) = _cols(x, stride)
    out = cols @ weight.reshape(len(weight), -1).T + bias
    return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2), (cols, x.shape, stride)


def _conv_backward(grad: np.ndarray, weight: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    cols, in_shape, stride = cache
    flat = grad.transpose(0, 2, 3, 1).reshape(-1, grad.shape[1])
    d_weight = (flat.T @ cols).reshape(weight.shape)
    d_cols = (flat @ weight.reshape(len(weight), -1)).reshape(*grad.shape[:1], *grad.shape[2:], -1, 3, 3)
    n, c, h, w = in_shape
    d_padded = np.zeros((n, c, h + 2, w + 2))
    out_h, out_w = grad.shape[2:]
    for i in range(3):
        for j in range(3):
            d_padded[:, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride] += d_cols[
                :, :, :, :, i, j
            ].transpose(0, 3, 1, 2)
    return d_padded[:, :, 1:-1, 1:-1], d_weight, flat.sum(axis=0)


def _forward(p: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list]:
    z1, c1 = _conv(x, p["w1"], p["b1"], 1)
    h1 = np.maximum(z1, 0)
    z2, c2 = _conv(h1, p["w2"], p["b2"], 2)
    h2 = np.maximum(z2, 0)
    z3, c3 = _conv(h2, p["w3"], p["b3"], 1)
    h3 = np.maximum(z3 + h2, 0)
    flat = h3.reshape(len(x), -1)
    return flat @ p["wf"].T + p["bf"], [c1, z1, c2, z2, c3, z3, h2, h3, flat]


def _gradients(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logits, (c1, z1, c2, z2, c3, _, _, h3, flat) = _forward(p, x)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    prob[np.arange(len(y)), y] -= 1
    d_logits = prob / len(y)
    g = {"wf": d_logits.T @ flat, "bf": d_logits.sum(axis=0)}
    d_h3 = (d_logits @ p["wf"]).reshape(h3.shape) * (h3 > 0)
    d_h2, g["w3"], g["b3"] = _conv_backward(d_h3, p["w3"], c3)
    d_z2 = (d_h2 + d_h3) * (z2 > 0)
    d_h1, g["w2"], g["b2"] = _conv_backward(d_z2, p["w2"], c2)
    _, g["w1"], g["b1"] = _conv_backward(d_h1 * (z1 > 0), p["w1"], c1)
    return g


def predict(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return _forward(p, x)[0]


@functools.cache
def train_digits(epochs: int = 12, seed: int = 0) -> Digits:
    """Train once per process (a few seconds)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float64)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    rng = np.random.default_rng(seed)
    shapes = {"w1": (8, 1, 3, 3), "w2": (16, 8, 3, 3), "w3": (16, 16, 3, 3), "wf": (10, 256)}
    params = {k: rng.standard_normal(s) * np.sqrt(2.0 / np.prod(s[1:])) for k, s in shapes.items()}
    params |= {"b1": np.zeros(8), "b2": np.zeros(16), "b3": np.zeros(16), "bf": np.zeros(10)}
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for first in range(0, len(order), 32):
            batch = order[first : first + 32]
            step += 1
            for name, grad in _gradients(params, x_train[batch], y_train[batch]).items():
                m, v = moments[name]
                m[...] = 0.9 * m + 0.1 * grad
                v[...] = 0.999 * v + 0.001 * grad**2
                lr = 0.005 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
                params[name] -= lr * m / (np.sqrt(v) + 1e-8)
    weights = {k: v.astype(F32) for k, v in params.items()}
    return Digits(weights, x_train.astype(F32), y_train, x_test.astype(F32), y_test)


def _conv_node(name: str, inputs: list[str], output: str, stride: int) -> onnx.NodeProto:
    return helper.make_node(
        "Conv", inputs, [output], name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]
    )


def digits_onnx(digits: Digits, path: Path) -> Path:
    """The trained CNN as an ONNX model with input 'image' [1, 1, 8, 8] and output 'logits' [1, 10]."""
    p = digits.weights
    nodes = [
        _conv_node("conv1", ["image", "w1", "b1"], "z1", 1),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        _conv_node("conv2", ["h1", "w2", "b2"], "z2", 2),
        helper.make_node("Relu", ["z2"], ["h2"], name="relu2"),
        _conv_node("conv3", ["h2", "w3", "b3"], "z3", 1),
        helper.make_node("Add", ["z3", "h2"], ["s3"], name="residual"),
        helper.make_node("Relu", ["s3"], ["h3"], name="relu3"),
        helper.make_node("Flatten", ["h3"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=[numpy_helper.from_array(v, k) for k, v in p.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save_model(model, path)
    return path


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Images as an .npz keyed by the model's input name, stacked [N, 1, 1, 8, 8]."""
    arrays = {"image": images[:, None]}
    if labels is not None:
        arrays["labels"] = labels
    np.savez(path, **arrays)
    return path
