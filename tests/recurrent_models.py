"""Small recurrent ONNX models built with onnx.helper: LSTM, GRU and RNN in every direction, with
``sequence_lens``, and stateful ones whose states are graph inputs and outputs (h0 -> hn, c0 -> cn)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
STEPS, BATCH, WIDTH, HIDDEN = 5, 1, 6, 8


def _tensor(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.5) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def recurrent_model(
    op: str = "LSTM",
    direction: str = "forward",
    states: bool = False,
    sequence_lens: bool = False,
    cell_output: bool = True,
    batch_first_input: bool = False,
    **attrs: object,
) -> onnx.ModelProto:
    """One recurrent layer over x [steps, batch, width]. ``states``: h0 (and c0) are graph inputs
    and hn (and cn) graph outputs, a stateful model; ``cell_output``: an LSTM's Y_c is a graph
    output; ``sequence_lens``: a constant full-length ``sequence_lens`` input;
    ``batch_first_input``: the graph input is x [batch, steps, width], transposed for the layer."""
    rng = np.random.default_rng(sum(map(ord, op + direction)))
    dirs = 2 if direction == "bidirectional" else 1
    gates = GATES[op]
    inits = [
        _tensor(rng, "W", dirs, gates * HIDDEN, WIDTH),
        _tensor(rng, "R", dirs, gates * HIDDEN, HIDDEN),
        _tensor(rng, "B", dirs, 2 * gates * HIDDEN),
    ]
    dims = [BATCH, STEPS, WIDTH] if batch_first_input else [STEPS, BATCH, WIDTH]
    inputs = [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, dims)]
    names = ["x", "W", "R", "B", "", ""]
    if sequence_lens:
        inits.append(numpy_helper.from_array(np.full(BATCH, STEPS, np.int32), "lens"))
        names[4] = "lens"
    state_names = ["h0", "c0"] if op == "LSTM" else ["h0"]
    if states:
        for name in state_names:
            inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [dirs, BATCH, HIDDEN]))
        names[5:] = state_names
    while not names[-1]:
        names.pop()
    outs = ["y", "hn", "cn"] if op == "LSTM" and (cell_output or states) else ["y", "hn"]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2])] if batch_first_input else []
    names[0] = "xt" if batch_first_input else "x"
    nodes.append(helper.make_node(op, names, outs, hidden_size=HIDDEN, direction=direction, **attrs))
    shapes = {"y": [STEPS, dirs, BATCH, HIDDEN], "hn": [dirs, BATCH, HIDDEN], "cn": [dirs, BATCH, HIDDEN]}
    outputs = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shapes[n]) for n in outs]
    graph = helper.make_graph(nodes, f"{op.lower()}_{direction}", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model
