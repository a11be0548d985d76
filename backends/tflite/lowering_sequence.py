"""Lowerings of sequence-model ops to TensorFlow ops: LayerNormalization, and recurrent layers
unrolled over their steps.

- LayerNormalization: MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL (and the scale and bias), over the
  trailing axes from ``axis`` on;
- unrolled recurrent layers, over the sequence whose length the IR shapes fix, for what TFLite's
  fused UNIDIRECTIONAL_SEQUENCE_LSTM cannot give (``edgec.backends.tflite.lowering_recurrent``
  says when): each LSTM step (ONNX gate order input, output, forget, cell; optional peepholes
  and initial states) is a FULLY_CONNECTED of the input and one of the hidden state, a SPLIT
  into the four gates, LOGISTIC/TANH and elementwise MUL/ADD; GRU (gates update, reset, hidden;
  either ``linear_before_reset``) and RNN steps likewise. TFLite has no GRU or plain-RNN op its
  converter makes from TF ops, so those are always unrolled. A reverse direction walks the steps
  backwards. ``recurrent_check`` refuses what is not lowered (clip, coupled input-forget gate,
  other activations, ragged ``sequence_lens``).

All work on the values' logical order: the layout pass leaves these ops' tensors in it.
Registered into ``LOWERING`` by ``edgec.backends.tflite.lowering``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edgec.plugin import Node, Op, stored_axis

if TYPE_CHECKING:
    from edgec.backends.tflite.lowering import Lowering

Tensor = Any

# ONNX's default activations per direction of each recurrent layer.
DEFAULT_ACTIVATIONS = {Op.LSTM: ("Sigmoid", "Tanh", "Tanh"), Op.GRU: ("Sigmoid", "Tanh"), Op.RNN: ("Tanh",)}
DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


def recurrent_check(node: Node) -> str | None:
    """Why the lowering cannot lower the LSTM, GRU or RNN ``node``, or None: it needs constant
    weights, biases and peepholes, ONNX's default activations, no clip, no coupled input-forget
    gate, and every sequence at full length."""
    if (weights := node.computed_input(1, 2, 3, 7)) is not None:
        return f"input '{weights.name}' (weights, biases or peepholes) must be a constant"
    attrs = node.attrs
    directions = len(DIRECTIONS.get(attrs.get("direction", "forward"), ()))
    activations = [str(a).lower() for a in attrs.get("activations") or []]
    default = [a.lower() for a in DEFAULT_ACTIVATIONS[node.op]] * directions
    if activations != default or attrs.get("activation_alpha") or attrs.get("activation_beta"):
        names = ", ".join(DEFAULT_ACTIVATIONS[node.op])
        return f"activations {attrs.get('activations')}: only the defaults ({names}) are lowered"
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
    """One direction's constants: kernels as (in, gates * hidden); the two biases summed (GRU: the
    input bias, and the recurrent one per gate, since the reset gate scales part of it); LSTM
    peepholes."""

    def __init__(self, node: Node, index: int) -> None:
        weight, recurrence, bias = node.const_input(1), node.const_input(2), node.const_input(3)
        assert weight is not None and recurrence is not None
        self.hidden = hidden = int(node.attrs["hidden_size"])
        gates = weight.shape[1] // hidden
        self.kernel = np.ascontiguousarray(weight[index].T)
        self.recurrent = np.ascontiguousarray(recurrence[index].T)
        both = np.zeros((2, gates * hidden), np.float32) if bias is None else bias[index].reshape(2, -1)
        self.bias = both.sum(axis=0).astype(np.float32)
        self.input_bias = both[0].astype(np.float32)
        self.recurrent_bias = np.split(both[1].astype(np.float32), gates)
        self.recurrent_bias_zr = both[1][: 2 * hidden].astype(np.float32)
        peepholes = node.const_input(7) if node.op is Op.LSTM else None
        self.peepholes = None if peepholes is None else np.split(peepholes[index].astype(np.float32), 3)


def initial_state_data(node: Node, input_index: int, direction: int) -> np.ndarray:
    """A constant initial state (input 5 or 6) of direction ``direction`` as (batch, hidden)."""
    data = node.const_input(input_index)
    assert data is not None
    picked = data[:, direction] if int(node.attrs.get("layout", 0)) == 1 else data[direction]
    return picked.astype(np.float32)


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


def lstm_cell(
    tf: Any,
    z: Tensor,
    h: Tensor | None,
    c: Tensor | None,
    recurrent: Any,
    gates: tuple[int, int, int, int] = (0, 1, 2, 3),
    peepholes: list[np.ndarray] | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step from the input's gate pre-activations ``z`` (x times the kernel, plus both
    biases): the new (h, c). A missing h or c is the zero initial state. ``gates`` gives where the
    input, output, forget and cell gates lie in the columns (ONNX's order is the default)."""
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


def projected_steps(
    tf: Any, x: Tensor, kernel: np.ndarray, bias: np.ndarray, steps: int, batch: int
) -> list[Tensor]:
    """x times the kernel plus the bias for every step at once (one FULLY_CONNECTED over
    steps * batch rows), then cut into the steps' (batch, columns) slices."""
    width, columns = int(x.shape[-1]), kernel.shape[1]
    flat = tf.matmul(tf.reshape(x, [steps * batch, width]), kernel) + bias
    return [tf.slice(flat, [t * batch, 0], [batch, columns]) for t in range(steps)]


def unrolled_lstm(ctx: Lowering, node: Node, x: Tensor, steps: int, batch: int) -> list[Tensor]:
    """Y as (steps, directions, batch, hidden), Y_h and Y_c as (directions, batch, hidden), from
    time-major ``x``: the input projection of all steps at once, then one cell per step."""
    tf = ctx.tf
    sequences, finals_h, finals_c = [], [], []
    for index, backwards in enumerate(DIRECTIONS[node.attrs.get("direction", "forward")]):
        d = Direction(node, index)
        projected = projected_steps(tf, x, d.kernel, d.bias, steps, batch)
        recurrent = tf.constant(d.recurrent)
        h, c = initial_state(ctx, node, 5, index), initial_state(ctx, node, 6, index)
        outputs: list[Tensor] = [None] * steps
        for t in reversed(range(steps)) if backwards else range(steps):
            h, c = lstm_cell(tf, projected[t], h, c, recurrent, peepholes=d.peepholes)
            outputs[t] = h
        sequences.append(tf.stack(outputs, axis=0))
        finals_h.append(h)
        finals_c.append(c)
    return [tf.stack(sequences, axis=1), tf.stack(finals_h, axis=0), tf.stack(finals_c, axis=0)]


def _gru_step(
    tf: Any, zx: Tensor, h: Tensor | None, d: Direction, weights: Any, linear_before_reset: bool
) -> Tensor:
    """One GRU step (ONNX gate order update, reset, hidden) from the input's pre-activations ``zx``
    (x times the kernel plus the input bias); a missing h is the zero state."""
    xz, xr, xh = tf.split(zx, 3, axis=1)
    rb = d.recurrent_bias
    if h is None:
        z, r = tf.math.sigmoid(xz + rb[0]), tf.math.sigmoid(xr + rb[1])
        return (1.0 - z) * tf.math.tanh(xh + (r * rb[2] if linear_before_reset else rb[2]))
    rz, rr = tf.split(tf.matmul(h, weights[0]) + d.recurrent_bias_zr, 2, axis=1)
    z, r = tf.math.sigmoid(xz + rz), tf.math.sigmoid(xr + rr)
    hh = (
        r * (tf.matmul(h, weights[1]) + rb[2])
        if linear_before_reset
        else tf.matmul(r * h, weights[1]) + rb[2]
    )
    return (1.0 - z) * tf.math.tanh(xh + hh) + z * h


def unrolled(ctx: Lowering, node: Node, x: Tensor, steps: int, batch: int) -> list[Tensor]:
    """A GRU's or RNN's Y as (steps, directions, batch, hidden) and Y_h as (directions, batch,
    hidden), from time-major ``x``: the input projection of all steps at once, then one cell per
    step."""
    tf = ctx.tf
    gru = node.op is Op.GRU
    linear = bool(node.attrs.get("linear_before_reset", 0))
    sequences, finals = [], []
    for index, backwards in enumerate(DIRECTIONS[node.attrs.get("direction", "forward")]):
        d = Direction(node, index)
        projected = projected_steps(tf, x, d.kernel, d.input_bias if gru else d.bias, steps, batch)
        split = 2 * d.hidden
        weights = (tf.constant(d.recurrent[:, :split]), tf.constant(d.recurrent[:, split:])) if gru else None
        recurrent = None if gru else tf.constant(d.recurrent)
        h = initial_state(ctx, node, 5, index)
        outputs: list[Tensor] = [None] * steps
        for t in reversed(range(steps)) if backwards else range(steps):
            if gru:
                h = _gru_step(tf, projected[t], h, d, weights, linear)
            else:
                h = tf.math.tanh(projected[t] if h is None else projected[t] + tf.matmul(h, recurrent))
            outputs[t] = h
        sequences.append(tf.stack(outputs, axis=0))
        finals.append(h)
    return [tf.stack(sequences, axis=1), tf.stack(finals, axis=0)]


SEQUENCE_LOWERING: dict[Op, Callable[[Lowering, Node], list[Tensor]]] = {
    Op.LAYER_NORMALIZATION: _layer_norm,
}
