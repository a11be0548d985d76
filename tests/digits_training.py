"""Numpy training for the small CNNs on scikit-learn's digits in compression_models.py and quant_models.py.

float32 throughout. Convolutions are 3x3 with padding 1 and stride 1 or 2,
computed as im2col matrix products. A convolution's output is in "pixel
rows" [N, H*W, C]; ``to_image`` and ``to_pixels`` convert to and from NCHW.
Dense weights are [in, out]. Training is Adam on the softmax cross-entropy,
on one BLAS thread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

Params = dict[str, np.ndarray]
Gradients = Callable[[Params, np.ndarray, np.ndarray], Params]
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def digits_split(train_count: int) -> Split:
    """(x_train, y_train, x_test, y_test): ``train_count`` random digits and the rest.

    Images are [N, 1, 8, 8] float32 in [0, 1].
    """
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    y = data.target
    order = np.random.default_rng(1).permutation(len(y))
    train, test = order[:train_count], order[train_count:]
    return x[train], y[train], x[test], y[test]


@functools.cache
def _patch_index(channels: int, height: int, width: int, stride: int) -> np.ndarray:
    """Flat indices into a padded [C, H+2, W+2] image for each (output pixel, c, kh, kw)."""
    rows, cols = height + 2, width + 2
    oy, ox, c, ky, kx = np.meshgrid(
        np.arange((rows - 3) // stride + 1),
        np.arange((cols - 3) // stride + 1),
        np.arange(channels),
        np.arange(3),
        np.arange(3),
        indexing="ij",
    )
    flat = c * rows * cols + (oy * stride + ky) * cols + (ox * stride + kx)
    return flat.reshape(-1, channels * 9)


def _im2col(x: np.ndarray, stride: int) -> np.ndarray:
    """[N, output pixels, C*9] patches of an NCHW image."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(x.shape[0], -1)
    return padded[:, _patch_index(*x.shape[1:], stride)]


def _col2im(cols: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Adjoint of ``_im2col``; for one kernel offset the output pixels read distinct input pixels."""
    n, c, h, w = shape
    index = _patch_index(c, h, w, stride)
    grad = np.zeros((n, c * (h + 2) * (w + 2)), cols.dtype)
    for k in range(index.shape[1]):
        grad[:, index[:, k]] += cols[:, :, k]
    return grad.reshape(n, c, h + 2, w + 2)[:, :, 1:-1, 1:-1]


def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The convolution of NCHW ``x`` in pixel rows, and the im2col patches its backward pass needs."""
    cols = _im2col(x, stride)
    return cols @ weight.reshape(len(weight), -1).T + bias, cols


def conv_grads(grad: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a convolution's weight and bias from the gradient of its output (pixel rows)."""
    d_weight = np.einsum("npk,npm->mk", cols, grad).reshape(weight.shape)
    return d_weight, grad.sum((0, 1))


def conv_input_grad(grad: np.ndarray, weight: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Gradient of a convolution's NCHW input of ``shape`` from the gradient of its output (pixel rows)."""
    return _col2im(grad @ weight.reshape(len(weight), -1), shape, stride)


def to_image(pixels: np.ndarray) -> np.ndarray:
    """Square pixel rows [N, H*W, C] as NCHW."""
    n, count, channels = pixels.shape
    side = math.isqrt(count)
    return pixels.transpose(0, 2, 1).reshape(n, channels, side, side)


def to_pixels(x: np.ndarray, channels: int) -> np.ndarray:
    """NCHW, or its flattening [N, C*H*W], as pixel rows [N, H*W, C]."""
    return x.reshape(len(x), channels, -1).transpose(0, 2, 1)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def dense_grads(inputs: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a dense layer's [in, out] weight and bias."""
    return inputs.T @ grad, grad.sum(0)


def softmax_cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Gradient of the mean softmax cross-entropy with respect to the logits."""
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    prob[np.arange(len(labels)), labels] -= 1
    return prob / len(labels)


def _he_init(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> Params:
    """He-normal weights (conv [out, in, 3, 3] or dense [in, out]) and zero biases: ``w1`` gets ``b1``."""
    params = {}
    for name, shape in shapes.items():
        conv_weight = len(shape) == 4
        fan_in = int(np.prod(shape[1:])) if conv_weight else shape[0]
        params[name] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
        params["b" + name[1:]] = np.zeros(shape[0] if conv_weight else shape[1], np.float32)
    return params


def _adam(
    params: Params,
    gradients: Gradients,
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    epochs: int,
    batch: int,
    lr: float,
) -> None:
    """Adam with bias-corrected moments over shuffled batches, updating ``params`` in place."""
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            step += 1
            for k, grad in gradients(params, x[rows], y[rows]).items():
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad * grad
                update = lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
                params[k] -= update


def train(
    shapes: dict[str, tuple[int, ...]],
    gradients: Gradients,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch: int,
    lr: float,
    seed: int = 0,
) -> Params:
    """Parameters for the weight ``shapes``, trained with Adam on ``gradients`` (a few seconds)."""
    rng = np.random.default_rng(seed)
    params = _he_init(shapes, rng)
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        _adam(params, gradients, x, y, rng, epochs=epochs, batch=batch, lr=lr)
    return params


def conv_node(name: str, inputs: list[str], output: str, stride: int) -> onnx.NodeProto:
    return helper.make_node(
        "Conv", inputs, [output], name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]
    )


def onnx_model(nodes: list[onnx.NodeProto], params: Params, opset: int) -> onnx.ModelProto:
    """A model from 'image' [1, 1, 8, 8] to 'logits' [1, 10] with ``params`` as initializers."""
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(value, name) for name, value in params.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
