"""Lowerings of sequence-model ops to TensorFlow ops: LayerNormalization and LSTM.

TFLite has neither as a builtin its converter would make from plain TF ops, so
both lower to the ops they are made of:

- LayerNormalization: MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL (and the scale
  and bias), over the trailing axes from ``axis`` on;
- LSTM (ONNX gate order input, output, forget, cell; default activations
  sigmoid, tanh, tanh; optional peepholes and initial states): unrolled over
  the sequence, whose length the IR shapes fix. Each step is a
  FULLY_CONNECTED of the input and one of the hidden state, a SPLIT into the
  four gates, LOGISTIC/TANH and elementwise MUL/ADD; a reverse direction walks
  the steps backwards. ``edgec.backends.tflite.support`` refuses what is not
  lowered (clip, coupled input-forget gate, other activations, ragged
  ``sequence_lens``).

Both work on the values' logical order: the layout pass leaves these ops'
tensors in it. Registered into ``LOWERING`` by ``edgec.backends.tflite.lowering``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edgec.ir.graph import Node
from edgec.ir.ops import Op
from edgec.passes.layout import stored_axis

if TYPE_CHECKING:
    from edgec.backends.tflite.lowering import Lowering

Tensor = Any

# ONNX's LSTM defaults, one triple per direction.
DEFAULT_LSTM_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


def lstm_check(node: Node) -> str | None:
    """Why ``_lstm`` cannot lower ``node``, or None: it needs constant weights, biases and
    peepholes, ONNX's default activations, no clip, no coupled input-forget gate, and every
    sequence at full length."""
    if (weights := node.computed_input(1, 2, 3, 7)) is not None:
        return f"input '{weights.name}' (weights, biases or peepholes) must be a constant"
    attrs = node.attrs
    directions = len(DIRECTIONS.get(attrs.get("direction", "forward"), ()))
    activations = [str(a).lower() for a in attrs.get("activations") or []]
    default = [a.lower() for a in DEFAULT_LSTM_ACTIVATIONS] * directions
    if activations != default or attrs.get("activation_alpha") or attrs.get("activation_beta"):
        return f"activations {attrs.get('activations')}: only the defaults (Sigmoid, Tanh, Tanh) are lowered"
    if attrs.get("clip") is not None:
        return "cell clipping (clip) is not lowered"
    if attrs.get("input_forget", 0):
        return "the coupled input-forget gate (input_forget=1) is not lowered"
    lengths, source = node.input(4), node.inputs[0]
    if lengths is not None and source is not None and source.shape is not None:
        steps = source.shape[1 if attrs.get("layout", 0) else 0]
        if lengths.data is None or np.any(lengths.data != steps):
            return "sequence_lens must be absent or give every sequence the full length (no ragged batches)"
    return None


def _layer_norm(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    rank = len(source.shape)
    first = int(node.attrs.get("axis", -1)) % rank
    axes = sorted(stored_axis(source, a) for a in range(first, rank))
    x = ctx.get(source)
    centered = x - tf.reduce_mean(x, axis=axes, keepdims=True)
    variance = tf.reduce_mean(centered * centered, axis=axes, keepdims=True)
    epsilon = np.float32(node.attrs.get("epsilon", 1e-5))
    y = centered * tf.math.rsqrt(variance + epsilon) * ctx.get(node.inputs[1], like=node.output)
    if node.input(2) is not None:
        y = y + ctx.get(node.inputs[2], like=node.output)
    return [y]


class Direction:
    """One direction's constants: kernels as (in, 4 * hidden), the two biases summed, peepholes."""

    def __init__(self, node: Node, index: int) -> None:
        weight, recurrence, bias = node.const_input(1), node.const_input(2), node.const_input(3)
        assert weight is not None and recurrence is not None
        hidden = int(node.attrs["hidden_size"])
        self.kernel = np.ascontiguousarray(weight[index].T)
        self.recurrent = np.ascontiguousarray(recurrence[index].T)
        both = np.zeros((2, 4 * hidden), np.float32) if bias is None else bias[index].reshape(2, -1)
        self.bias = both.sum(axis=0).astype(np.float32)
        peepholes = node.const_input(7)
        self.peepholes = None if peepholes is None else np.split(peepholes[index].astype(np.float32), 3)


def initial_state(ctx: Lowering, node: Node, input_index: int, direction: int) -> Tensor | None:
    """Direction ``direction``'s initial hidden (input 5) or cell (input 6) state as (batch, hidden);
    the input is (directions, batch, hidden), or (batch, directions, hidden) when ``layout`` is 1."""
    value = node.input(input_index)
    if value is None or value.shape is None:
        return None
    tf, state = ctx.tf, ctx.get(value)
    if int(node.attrs.get("layout", 0)) == 1:
        batch, _, hidden = value.shape
        return tf.reshape(tf.slice(state, [0, direction, 0], [batch, 1, hidden]), [batch, hidden])
    _, batch, hidden = value.shape
    return tf.reshape(tf.slice(state, [direction, 0, 0], [1, batch, hidden]), [batch, hidden])


def lstm_step(
    tf: Any,
    x: Tensor,
    h: Tensor | None,
    c: Tensor | None,
    kernel: Any,
    recurrent: Any,
    bias: Any,
    gates: tuple[int, int, int, int] = (0, 1, 2, 3),
    peepholes: list[np.ndarray] | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step: the new (h, c). A missing h or c is the zero initial state. ``gates`` gives
    where the input, output, forget and cell gates lie in the kernels' columns (ONNX's order is
    the default)."""
    z = tf.matmul(x, kernel) + bias
    if h is not None:
        z = z + tf.matmul(h, recurrent)
    parts = tf.split(z, 4, axis=1)
    i, o, f, g = (parts[k] for k in gates)
    if peepholes is not None and c is not None:
        i, f = i + peepholes[0] * c, f + peepholes[2] * c
    cell = tf.math.sigmoid(i) * tf.math.tanh(g)
    if c is not None:
        cell = tf.math.sigmoid(f) * c + cell
    if peepholes is not None:
        o = o + peepholes[1] * cell
    return tf.math.sigmoid(o) * tf.math.tanh(cell), cell


def unrolled_lstm(ctx: Lowering, node: Node, x: Tensor, steps: int, batch: int) -> list[Tensor]:
    """Y as (steps, directions, batch, hidden), Y_h and Y_c as (directions, batch, hidden), from
    time-major ``x``, one cell per step."""
    tf = ctx.tf
    width = int(x.shape[-1])
    inputs = [tf.reshape(tf.slice(x, [t, 0, 0], [1, batch, width]), [batch, width]) for t in range(steps)]
    sequences, finals_h, finals_c = [], [], []
    for index, backwards in enumerate(DIRECTIONS[node.attrs.get("direction", "forward")]):
        d = Direction(node, index)
        h, c = initial_state(ctx, node, 5, index), initial_state(ctx, node, 6, index)
        outputs: list[Tensor] = [None] * steps
        for t in reversed(range(steps)) if backwards else range(steps):
            h, c = lstm_step(tf, inputs[t], h, c, d.kernel, d.recurrent, d.bias, peepholes=d.peepholes)
            outputs[t] = h
        sequences.append(tf.stack(outputs, axis=0))
        finals_h.append(h)
        finals_c.append(c)
    return [tf.stack(sequences, axis=1), tf.stack(finals_h, axis=0), tf.stack(finals_c, axis=0)]


SEQUENCE_LOWERING: dict[Op, Callable[[Lowering, Node], list[Tensor]]] = {
    Op.LAYER_NORMALIZATION: _layer_norm,
}
