"""Helpers for the frontend tests: tiny ONNX models, imported and compared with ONNX Runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.frontend import load_model
from edgec.ir import Graph, Node, Op
from edgec.runtime import run, run_graph, session

RNG = np.random.default_rng(0)


def rand(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


Outputs = Mapping[str, type | tuple[type, list]] | Sequence[str]


def make_model(
    nodes: Sequence[onnx.NodeProto],
    feeds: Mapping[str, np.ndarray],
    opset: int,
    inits: Mapping[str, np.ndarray] | None = None,
    outputs: Outputs = ("y",),
) -> onnx.ModelProto:
    """A model whose inputs are typed like ``feeds``; outputs are float32 unless given a dtype.

    Output shapes are ONNX shape inference's unless given as (dtype, dims); the checker wants them declared.
    """
    if not isinstance(outputs, Mapping):
        outputs = dict.fromkeys(outputs, np.float32)
    declared = {n: t if isinstance(t, tuple) else (t, None) for n, t in outputs.items()}
    graph = helper.make_graph(
        list(nodes),
        "test",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in feeds.items()
        ],
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(t)), dims)
            for n, (t, dims) in declared.items()
        ],
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()],
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph, opset_imports=opsets, ir_version=max(8, helper.find_min_ir_version_for(opsets))
    )
    inferred = {o.name: o for o in onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output}
    for output in model.graph.output:
        if declared[output.name][1] is None:
            output.CopyFrom(inferred[output.name])
    return model


def save(model: onnx.ModelProto, directory: Path, name: str = "model.onnx") -> Path:
    path = directory / name
    onnx.save(model, path)
    return path


def check_import(
    tmp_path: Path,
    nodes: Sequence[onnx.NodeProto],
    feeds: Mapping[str, np.ndarray],
    opset: int,
    inits: Mapping[str, np.ndarray] | None = None,
    outputs: Outputs = ("y",),
) -> Graph:
    """Import the model and assert run_graph(imported) == ONNX Runtime(original) on ``feeds``."""
    model = make_model(nodes, feeds, opset, inits, outputs)
    graph = load_model(save(model, tmp_path))
    expected = run(session(model), feeds)
    actual = run_graph(graph, feeds)
    assert set(actual) == set(expected)
    for name, want in expected.items():
        got = actual[name]
        assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    return graph


def only(graph: Graph, op: Op) -> Node:
    """The single node of ``op`` in ``graph``."""
    nodes = graph.nodes_of(op)
    assert len(nodes) == 1, [n.op for n in graph.nodes]
    return nodes[0]


def const(node: Node, index: int) -> list:
    data = node.const_input(index)
    assert data is not None, f"input {index} of {node.name} is not constant"
    return data.tolist()
