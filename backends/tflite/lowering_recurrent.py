"""LSTM as TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM, in the one form TensorFlow's converter fuses.

The converter replaces a function that carries the Keras LSTM's attributes (``api_implements``
``lstm_<id>``, ``time_major``, ``go_backwards``; arguments ``inputs, init_h, init_c, kernel,
recurrent_kernel, bias``; results ``last_output, outputs, new_h, new_c, runtime``) by one
UNIDIRECTIONAL_SEQUENCE_LSTM, when it converts a SavedModel (``converter.convert`` hands it
one). The function's body here is the unrolled cell, so a function the converter declines to fuse
still computes the LSTM.

What the fused op cannot give, and so what stays unrolled (``edgec.backends.tflite.lowering_sequence``):

- the final cell state: the converter replaces ``new_h``/``new_c`` by zeros, since the op keeps
  them inside; ``Y_h`` is read from the last step of the sequence instead, so only a used ``Y_c``
  (a streaming model's state output) keeps the unrolled cells;
- peepholes (the Keras LSTM has none).

A direction without initial state, or with a constant one, gets zeros computed from its input
(a FULLY_CONNECTED with a zero kernel), plus the constant: a constant state would become a
variable tensor that the op overwrites, so the next call would start from the previous call's
final state. A reverse direction reverses its input and its output (REVERSE_V2); a bidirectional
LSTM is two fused ops, whose outputs an int8 build requantizes (an ADD of zero) before stacking them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edgec.backends.tflite.lowering_sequence import (
    DIRECTIONS,
    Direction,
    initial_state,
    initial_state_data,
    lstm_cell,
    unrolled,
    unrolled_lstm,
)
from edgec.plugin import RECURRENT, Node, Op

if TYPE_CHECKING:
    from edgec.backends.tflite.lowering import Lowering

Tensor = Any

# ONNX's gate order is (input, output, forget, cell); Keras's, which the converter splits, is
# (input, forget, cell, output).
_KERAS_GATES = [0, 2, 3, 1]


def fusable(node: Node, graph_outputs: frozenset[str], integer: bool = False) -> bool:
    """Whether the fused op computes everything ``node`` must give: no peepholes, no used Y_c.
    ``integer``: TFLite's integer LSTM kernel also needs its states in variable tensors, so the
    initial states must be absent or constants (a call must then start from reset variables)."""
    if node.op is not Op.LSTM or node.input(7) is not None:
        return False
    if integer and any(v is not None and v.data is None for v in (node.input(5), node.input(6))):
        return False
    if len(node.outputs) < 3:
        return True
    cell = node.outputs[2]
    return not cell.uses and cell.name not in graph_outputs


def _keras_order(array: np.ndarray, hidden: int) -> np.ndarray:
    gates = array.reshape(4, hidden, *array.shape[1:])
    return np.ascontiguousarray(gates[_KERAS_GATES].reshape(array.shape))


def _fused_function(tf: Any) -> Any:
    """A function the converter fuses into UNIDIRECTIONAL_SEQUENCE_LSTM (time-major). Its body, a
    ``tf.scan`` over the steps, is what runs if the converter declines: small to trace and save
    whatever the sequence length."""

    def body(x: Tensor, h: Tensor, c: Tensor, kernel: Tensor, recurrent: Tensor, bias: Tensor) -> Any:
        def step(carry: tuple[Tensor, Tensor], xt: Tensor) -> tuple[Tensor, Tensor]:
            z = tf.matmul(xt, kernel) + bias
            return lstm_cell(tf, z, carry[0], carry[1], recurrent, gates=(0, 3, 1, 2))

        hs, cs = tf.scan(step, x, initializer=(h, c))
        return hs[-1], hs, hs[-1], cs[-1], tf.constant(0.0)

    attributes = {
        "api_implements": "lstm_edgec",
        "api_preferred_device": "CPU",
        "time_major": True,
        "go_backwards": False,
    }
    return tf.function(body, autograph=False, experimental_attributes=attributes)


def _zero_states(tf: Any, x: Tensor, hidden: int) -> tuple[Tensor, Tensor]:
    """Two distinct zero (batch, hidden) tensors computed from ``x``'s first step: the converter
    makes a constant state a variable tensor, and shares no computed state between operands."""
    width = int(x.shape[-1])
    zeros = tf.matmul(x[0], np.zeros((width, 2 * hidden), np.float32))
    return tuple(tf.split(zeros, 2, axis=1))


def _state(ctx: Lowering, node: Node, input_index: int, direction: int, zero: Tensor) -> Tensor:
    """The initial state from input ``input_index`` as the fused op needs it: computed (``zero``,
    plus a constant state) for the float kernel, a constant (a variable tensor) for the integer
    one (``ctx.integer_states``)."""
    value = node.input(input_index)
    if ctx.integer_states:
        data = (
            np.zeros(tuple(zero.shape), np.float32)
            if value is None
            else initial_state_data(node, input_index, direction)
        )
        return ctx.tf.constant(data)
    if value is not None and value.data is not None and not np.any(value.data):
        value = None
    state = initial_state(ctx, node, input_index, direction) if value is not None else None
    if state is None:
        return zero
    return zero + state if value is not None and value.data is not None else state


def fused_lstm(ctx: Lowering, node: Node, x: Tensor, steps: int, batch: int) -> list[Tensor]:
    """Y as (steps, directions, batch, hidden) and Y_h as (directions, batch, hidden), from
    time-major ``x``, one fused op per direction (and a stand-in for the unused Y_c). Y_h is read
    from Y, so each fused op's output has one consumer, as the integer LSTM's calibration needs."""
    tf = ctx.tf
    hidden = int(node.attrs["hidden_size"])
    function = _fused_function(tf)
    directions = DIRECTIONS[node.attrs.get("direction", "forward")]
    sequences = []
    for index, backwards in enumerate(directions):
        d = Direction(node, index)
        source = tf.reverse(x, [0]) if backwards else x
        zeros = _zero_states(tf, source, hidden)
        h0, c0 = (_state(ctx, node, k, index, zero) for k, zero in zip((5, 6), zeros, strict=True))
        kernel = _keras_order(d.kernel.T, hidden).T
        recurrent = _keras_order(d.recurrent.T, hidden).T
        bias = _keras_order(d.bias, hidden)
        args = (tf.constant(kernel), tf.constant(recurrent), tf.constant(bias))
        sequence = function(source, h0, c0, *args)[1]
        sequence = tf.reverse(sequence, [0]) if backwards else sequence
        sequences.append(sequence + zeros[0] if ctx.integer_states and len(directions) > 1 else sequence)
    # At int8 the converter gives PACK's inputs PACK's scale, through REVERSE_V2 (which copies the int8
    # bytes, so they are read at the wrong scale) and into the fused op's output (whose scale must be
    # its hidden state's). On the small bidirectional test LSTM that left the forward output at cosine
    # 0.907 and the reversed backward one at 0.986, the backward op's own output being at 0.99994.
    # Adding a computed zero puts an ADD before PACK, which requantizes to PACK's scale.
    y = tf.stack(sequences, axis=1)
    # The last step of each direction: the final one forwards, the first one backwards.
    y_h = tf.stack([y[0 if backwards else -1, i] for i, backwards in enumerate(directions)], axis=0)
    # Y_c is unused (``fusable``): a stand-in of its shape that the converter prunes.
    return [y, y_h, tf.zeros_like(y_h)]


def _recurrent(ctx: Lowering, node: Node) -> list[Tensor]:
    tf = ctx.tf
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    batch_major = int(node.attrs.get("layout", 0)) == 1
    x = tf.transpose(ctx.get(source), [1, 0, 2]) if batch_major else ctx.get(source)
    steps, batch = (source.shape[1], source.shape[0]) if batch_major else source.shape[:2]
    if node.op is not Op.LSTM:
        results = unrolled(ctx, node, x, steps, batch)
    elif ctx.fuse_recurrent and fusable(node, ctx.graph_outputs, ctx.integer_states):
        ctx.fused_recurrent += 1
        results = fused_lstm(ctx, node, x, steps, batch)
    else:
        results = unrolled_lstm(ctx, node, x, steps, batch)
    if batch_major:
        results = [tf.transpose(results[0], [2, 0, 1, 3]), *(tf.transpose(r, [1, 0, 2]) for r in results[1:])]
    return results[: len(node.outputs)]


RECURRENT_LOWERING: dict[Op, Callable[[Lowering, Node], list[Tensor]]] = {op: _recurrent for op in RECURRENT}
