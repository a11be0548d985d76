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


def keyword_model(
    frames: int = 49, features: int = 10, hidden: int = 32, classes: int = 12
) -> onnx.ModelProto:
    """A keyword-spotting-style model: features [1, frames, features] (MFCC frames), an LSTM over
    the frames, its last hidden state into class scores."""
    rng = np.random.default_rng(0)
    inits = [
        _tensor(rng, "W", 1, 4 * hidden, features, scale=0.3),
        _tensor(rng, "R", 1, 4 * hidden, hidden, scale=0.3),
        _tensor(rng, "B", 1, 8 * hidden, scale=0.1),
        _tensor(rng, "fc", hidden, classes, scale=0.3),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["frames"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["frames", "W", "R", "B"], ["", "last"], hidden_size=hidden),
        helper.make_node("Squeeze", ["last"], ["h"], axes=[0]),
        helper.make_node("MatMul", ["h", "fc"], ["scores"]),
    ]
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, frames, features])
    scores = helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, [1, classes])
    model = helper.make_model(
        helper.make_graph(nodes, "keywords", [x], [scores], inits),
        opset_imports=[helper.make_opsetid("", 12)],
    )
    onnx.checker.check_model(model)
    return model


def gru_head_model() -> onnx.ModelProto:
    """A stateful GRU (h0 -> hn) whose per-step outputs [steps, 1, hidden] go through Relu into
    MatMul + Add (a 3-D MatMul input, which ONNX Runtime fuses into Gemm between Reshapes), the
    head of the akiki VAD."""
    rng = np.random.default_rng(3)
    inits = [
        _tensor(rng, "W", 1, 3 * HIDDEN, WIDTH),
        _tensor(rng, "R", 1, 3 * HIDDEN, HIDDEN),
        _tensor(rng, "B", 1, 6 * HIDDEN),
        _tensor(rng, "head", HIDDEN, 1),
        _tensor(rng, "bias", 1),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
    ]
    nodes = [
        helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["y", "hn"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["y", "axis"], ["steps"]),
        helper.make_node("Relu", ["steps"], ["act"]),
        helper.make_node("MatMul", ["act", "head"], ["logit"]),
        helper.make_node("Add", ["bias", "logit"], ["score"]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [STEPS, BATCH, WIDTH]),
        helper.make_tensor_value_info("h0", onnx.TensorProto.FLOAT, [1, BATCH, HIDDEN]),
    ]
    outputs = [
        helper.make_tensor_value_info("score", onnx.TensorProto.FLOAT, [STEPS, BATCH, 1]),
        helper.make_tensor_value_info("hn", onnx.TensorProto.FLOAT, [1, BATCH, HIDDEN]),
    ]
    graph = helper.make_graph(nodes, "gru_head", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model
