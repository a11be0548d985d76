"""snpe-ready: Gemm in SNPE's FullyConnected form, Unsqueeze as Reshape; numerics unchanged."""

from __future__ import annotations

import pytest

import edgec.backends.snpe  # noqa: F401  (registers the snpe-ready pass)
from edgec.ir import Op
from tests.helpers import Builder, ops, run_and_compare


@pytest.mark.parametrize(
    ("trans_b", "attrs"),
    [(0, {}), (0, {"alpha": 0.5, "beta": 2.0}), (1, {"alpha": 3.0})],
)
def test_gemm_becomes_fully_connected(trans_b, attrs):
    b = Builder()
    y = b.gemm(b.input("x", (4, 6)), 5, trans_b=trans_b, **attrs)
    graph = b.output(y)
    records = run_and_compare(graph, "snpe-ready")
    assert records[0].rewrites == 1
    (gemm,) = graph.nodes_of(Op.GEMM)
    assert {k: gemm.attrs[k] for k in ("alpha", "beta", "transA", "transB")} == {
        "alpha": 1.0,
        "beta": 1.0,
        "transA": 0,
        "transB": 1,
    }
    assert gemm.inputs[1].shape == (5, 6)
    assert graph.outputs[0].name == y.name


def test_transposed_a_gets_a_transpose():
    b = Builder()
    x = b.input("x", (6, 4))
    y = b.node(Op.GEMM, [x, b.weight("w", 5, 6)], (4, 5), alpha=1.0, beta=1.0, transA=1, transB=1)
    graph = b.output(y)
    run_and_compare(graph, "snpe-ready")
    assert ops(graph) == ["Transpose", "Gemm"]
    assert graph.nodes_of(Op.GEMM)[0].attrs["transA"] == 0


def test_fully_connected_gemm_is_left_alone():
    b = Builder()
    graph = b.output(b.gemm(b.input("x", (1, 8)), 3, trans_b=1))
    assert run_and_compare(graph, "snpe-ready")[0].rewrites == 0


def test_gemm_with_a_computed_weight_stays_and_is_reported():
    from edgec.backends.snpe.op_support import node_reason

    b = Builder()
    x, w = b.input("x", (2, 3)), b.input("w", (3, 4))
    y = b.node(Op.GEMM, [x, w], (2, 4), alpha=1.0, beta=1.0, transA=0, transB=0)
    graph = b.output(y)
    assert run_and_compare(graph, "snpe-ready")[0].rewrites == 0
    assert "FullyConnected" in node_reason(graph.nodes_of(Op.GEMM)[0], "cpu")


def test_unsqueeze_becomes_reshape():
    b = Builder()
    x = b.input("x", (2, 3))
    y = b.node(Op.UNSQUEEZE, [x, b.const("axes", [0, 3])], (1, 2, 3, 1))
    graph = b.output(b.node(Op.RELU, [y]))
    run_and_compare(graph, "snpe-ready")
    assert ops(graph) == ["Reshape", "Relu"]
