"""Small graph builders and the before/after check shared by the pass tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgec.ir import Graph, Layout, Op, Value, to_onnx, verify
from edgec.passes import make_spec, run_passes
from edgec.passes.manager import PassRecord
from edgec.runtime import run, run_graph, session

F32 = np.float32


def weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


class Builder:
    """A thin layer over Graph for tests: one call per node, output shapes given or inferred."""

    def __init__(self, name: str = "test") -> None:
        self.graph = Graph(name)
        self._seed = 0

    def input(self, name: str, shape: Sequence[int], dtype: type = F32) -> Value:
        layout = Layout.NCHW if len(shape) == 4 else Layout.NONE
        return self.graph.add_input(name, dtype, tuple(shape), layout)

    def const(self, name: str, array: Any) -> Value:
        """A constant; python floats become float32."""
        data = np.asarray(array)
        return self.graph.constant(name, data.astype(F32) if data.dtype == np.float64 else data)

    def weight(self, name: str, *shape: int) -> Value:
        self._seed += 1
        return self.const(name, weights(*shape, seed=self._seed))

    def node(
        self,
        op: Op,
        inputs: Sequence[Value | None],
        shape: Sequence[int] | None = None,
        dtype: Any = None,
        name: str | None = None,
        **attrs: Any,
    ) -> Value:
        first = inputs[0]
        out_shape = tuple(shape) if shape is not None else first.shape
        layout = Layout.NCHW if len(out_shape) == 4 else Layout.NONE
        value_name = name or f"{op.value.lower()}_{len(self.graph.nodes)}"
        out = self.graph.add_value(value_name, dtype or first.dtype, out_shape, layout)
        self.graph.add_node(op, inputs, [out], attrs, name=out.name)
        return out

    def conv(
        self, x: Value, c_out: int, kernel: int = 3, group: int = 1, bias: bool = True, **attrs: Any
    ) -> Value:
        n, c_in, h, w = x.shape
        pad = kernel // 2
        w_const = self.weight("w", c_out, c_in // group, kernel, kernel)
        b_const = self.weight("b", c_out) if bias else None
        inputs = [x, w_const, b_const] if bias else [x, w_const]
        conv_attrs = {
            "kernel_shape": [kernel, kernel],
            "strides": [1, 1],
            "pads": [pad] * 4,
            "dilations": [1, 1],
            "group": group,
            "auto_pad": "NOTSET",
            **attrs,
        }
        return self.node(Op.CONV, inputs, (n, c_out, h, w), **conv_attrs)

    def conv_transpose(self, x: Value, c_out: int, group: int = 1, bias: bool = True) -> Value:
        n, c_in, h, w = x.shape
        w_const = self.weight("wt", c_in, c_out // group, 2, 2)
        inputs = [x, w_const, self.weight("bt", c_out)] if bias else [x, w_const]
        attrs = {
            "kernel_shape": [2, 2],
            "strides": [2, 2],
            "pads": [0, 0, 0, 0],
            "dilations": [1, 1],
            "group": group,
            "output_padding": [0, 0],
            "auto_pad": "NOTSET",
        }
        return self.node(Op.CONV_TRANSPOSE, inputs, (n, c_out, 2 * h, 2 * w), **attrs)

    def gemm(self, x: Value, n_out: int, trans_b: int = 0, bias: bool = True, **attrs: Any) -> Value:
        m, k = x.shape
        b_const = self.weight("gw", *((n_out, k) if trans_b else (k, n_out)))
        inputs = [x, b_const, self.weight("gc", n_out)] if bias else [x, b_const]
        gemm_attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": trans_b, **attrs}
        return self.node(Op.GEMM, inputs, (m, n_out), **gemm_attrs)

    def batchnorm(self, x: Value, epsilon: float = 1e-5) -> Value:
        c = x.shape[1]
        rng = np.random.default_rng(len(self.graph.nodes) + 100)
        params = [
            rng.uniform(0.5, 1.5, c),
            rng.standard_normal(c),
            rng.standard_normal(c),
            rng.uniform(0.5, 2.0, c),
        ]
        consts = [
            self.const(name, p.astype(F32))
            for name, p in zip(("scale", "B", "mean", "var"), params, strict=True)
        ]
        return self.node(Op.BATCH_NORMALIZATION, [x, *consts], epsilon=epsilon, momentum=0.9, training_mode=0)

    def output(self, *values: Value) -> Graph:
        self.graph.outputs.extend(values)
        verify(self.graph)
        return self.graph


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: np.asarray(rng.standard_normal(v.shape) * 3, dtype=v.dtype) for v in graph.inputs}


def run_and_compare(graph: Graph, *passes: str, rtol: float = 1e-5, atol: float = 1e-5) -> list[PassRecord]:
    """Run ``passes`` on ``graph`` and check it computes what it did before, output names included."""
    verify(graph)
    feeds = random_feeds(graph)
    expected = run(session(to_onnx(graph)), feeds)
    records = run_passes(graph, [make_spec(name) for name in passes])
    got = run_graph(graph, feeds)
    assert list(got) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol, err_msg=name)
    return records


def ops(graph: Graph) -> list[str]:
    return [node.op.value for node in graph.nodes]
