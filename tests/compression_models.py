"""A small CNN trained on scikit-learn's digits, for the compression tests and bench/compression.py.

Training is plain numpy (im2col convolutions, Adam) and takes a few seconds;
``digits_cnn`` caches the result per process. The model is written as a real
ONNX file (opset 13, batch 1) and loaded through the frontend like any user
model.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from edgec.compression.calibration import run_all
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


def _patch_index(size: int, kernel: int, stride: int, pad: int, channels: int) -> np.ndarray:
    """Flat indices into a padded [C, H+2p, W+2p] image for each (output pixel, c, kh, kw)."""
    padded = size + 2 * pad
    out = (padded - kernel) // stride + 1
    oy, ox, c, ky, kx = np.meshgrid(
        np.arange(out),
        np.arange(out),
        np.arange(channels),
        np.arange(kernel),
        np.arange(kernel),
        indexing="ij",
    )
    flat = c * padded * padded + (oy * stride + ky) * padded + (ox * stride + kx)
    return flat.reshape(out * out, channels * kernel * kernel)


IDX1 = _patch_index(8, 3, 1, 1, 1)  # [64, 9]
IDX2 = _patch_index(8, 3, 2, 1, 16)  # [16, 144]


def _im2col(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(x.shape[0], -1)
    return padded[:, index]  # [N, P, K]


def _col2im(cols: np.ndarray, index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of ``_im2col``; for one kernel offset the output pixels read distinct input pixels."""
    n, c, h, w = shape
    grad = np.zeros((n, c * (h + 2) * (w + 2)), cols.dtype)
    for k in range(index.shape[1]):
        grad[:, index[:, k]] += cols[:, :, k]
    return grad.reshape(n, c, h + 2, w + 2)[:, :, 1:-1, 1:-1]


def _forward(p: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    c1 = _im2col(x, IDX1)
    h1 = np.maximum(c1 @ p["w1"].reshape(16, -1).T + p["b1"], 0)  # [N, 64, 16]
    a1 = h1.transpose(0, 2, 1).reshape(-1, 16, 8, 8)
    c2 = _im2col(a1, IDX2)
    h2 = np.maximum(c2 @ p["w2"].reshape(32, -1).T + p["b2"], 0)  # [N, 16, 32]
    f = h2.transpose(0, 2, 1).reshape(-1, 512)
    h3 = np.maximum(f @ p["w3"] + p["b3"], 0)
    return h3 @ p["w4"] + p["b4"], {"c1": c1, "h1": h1, "c2": c2, "h2": h2, "f": f, "h3": h3}


def _gradients(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logits, s = _forward(p, x)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    prob[np.arange(len(y)), y] -= 1
    d4 = prob / len(y)
    g = {"w4": s["h3"].T @ d4, "b4": d4.sum(0)}
    d3 = (d4 @ p["w4"].T) * (s["h3"] > 0)
    g |= {"w3": s["f"].T @ d3, "b3": d3.sum(0)}
    d2 = (d3 @ p["w3"].T).reshape(-1, 32, 16).transpose(0, 2, 1) * (s["h2"] > 0)
    g |= {"w2": np.einsum("npk,npm->mk", s["c2"], d2).reshape(SHAPES["w2"]), "b2": d2.sum((0, 1))}
    dc2 = d2 @ p["w2"].reshape(32, -1)
    da1 = _col2im(dc2, IDX2, (len(y), 16, 8, 8))
    d1 = da1.reshape(-1, 16, 64).transpose(0, 2, 1) * (s["h1"] > 0)
    g |= {"w1": np.einsum("npk,npm->mk", s["c1"], d1).reshape(SHAPES["w1"]), "b1": d1.sum((0, 1))}
    return g


def _train(x: np.ndarray, y: np.ndarray, epochs: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        params[name] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
        params["b" + name[1:]] = np.zeros(shape[0] if len(shape) == 4 else shape[1], np.float32)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), 64):
            batch = order[start : start + 64]
            step += 1
            for k, grad in _gradients(params, x[batch], y[batch]).items():
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad * grad
                update = 3e-3 * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
                params[k] = (params[k] - update).astype(np.float32)
    return params


@functools.lru_cache(maxsize=1)
def digits_cnn() -> Digits:
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    y = data.target
    order = np.random.default_rng(1).permutation(len(y))
    train, test = order[:1400], order[1400:]
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        params = _train(x[train], y[train])
    return Digits(params, x[train], y[train], x[test], y[test])


def accuracy_numpy(digits: Digits) -> float:
    logits, _ = _forward(digits.params, digits.x_test)
    return float(np.mean(np.argmax(logits, axis=1) == digits.y_test))


def digits_onnx(digits: Digits) -> onnx.ModelProto:
    p = digits.params
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv1", **conv, strides=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", **conv, strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["g3"], name="fc1"),
        helper.make_node("Relu", ["g3"], ["r3"], name="relu3"),
        helper.make_node("Gemm", ["r3", "w4", "b4"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(value, name) for name, value in p.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


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
