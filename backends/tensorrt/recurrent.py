"""Recurrent layers in fp16 inside an int8 build on strongly typed TensorRT stacks.

A strongly typed network (TensorRT 10, REFERENCE A2) takes each layer's
precision from the ONNX types and ignores ``--fp16``, so a float32 LSTM in
the Q/DQ model would run in fp32. ``half_recurrent`` gives every LSTM, GRU
and RNN node fp16 operands: its constant float inputs (W, R, B, P) become
fp16 initializers, its computed float inputs (X, initial states) pass
through a Cast to fp16, and its outputs are cast back to float32 under their
old names, so the graph's inputs and outputs keep their types. ONNX Runtime
runs these fp16 ops too, so the accuracy check judges the fp16 layers.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

RECURRENT_OPS = ("LSTM", "GRU", "RNN")


def _cast(graph: gs.Graph, src: gs.Variable, dst: gs.Variable, to: int, name: str) -> None:
    graph.nodes.append(gs.Node("Cast", name, {"to": to}, [src], [dst]))


def _half_input(graph: gs.Graph, node: gs.Node, index: int, tensor: gs.Tensor) -> None:
    tag = f"{node.name}/fp16_in{index}"
    if isinstance(tensor, gs.Constant):
        node.inputs[index] = gs.Constant(tag, tensor.values.astype(np.float16))
        return
    half = gs.Variable(tag, dtype=np.float16, shape=tensor.shape)
    _cast(graph, tensor, half, onnx.TensorProto.FLOAT16, f"{tag}/cast")
    node.inputs[index] = half


def _half_output(graph: gs.Graph, node: gs.Node, index: int, tensor: gs.Variable) -> None:
    tag = f"{node.name}/fp16_out{index}"
    half = gs.Variable(tag, dtype=np.float16, shape=tensor.shape)
    node.outputs[index] = half
    _cast(graph, half, tensor, onnx.TensorProto.FLOAT, f"{tag}/cast")


def _is_float32(tensor: gs.Tensor) -> bool:
    if isinstance(tensor, gs.Constant):
        return tensor.values.dtype == np.float32
    return tensor.dtype is not None and np.dtype(tensor.dtype) == np.float32


def half_recurrent(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every recurrent node computing in fp16 (see the module docstring)."""
    graph = gs.import_onnx(model)
    for node in [n for n in graph.nodes if n.op in RECURRENT_OPS]:
        for index, tensor in enumerate(list(node.inputs)):
            if tensor.name and _is_float32(tensor):
                _half_input(graph, node, index, tensor)
        for index, tensor in enumerate(list(node.outputs)):
            if tensor.name:
                _half_output(graph, node, index, tensor)
    graph.cleanup().toposort()
    return gs.export_onnx(graph)
