"""recognize-silu: Mul(x, Sigmoid(x)) in either order becomes SiLU(x); other Sigmoids stay."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import Builder, ops, run_and_compare

from edgec.frontend import load_model
from edgec.ir import Op
from edgec.passes import recognize_silu
from edgec.passes.rewrite import explain

RULE = recognize_silu.RULES[0]


@pytest.mark.parametrize("sigmoid_first", [False, True])
def test_mul_of_x_and_its_sigmoid_becomes_silu(sigmoid_first):
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 4)
    sig = b.node(Op.SIGMOID, [conv], name="sig")
    operands = [sig, conv] if sigmoid_first else [conv, sig]
    graph = b.output(b.node(Op.MUL, operands, name="swish"))

    assert run_and_compare(graph, "recognize-silu")[0].rewrites == 1
    assert ops(graph) == ["Conv", "SiLU"]
    silu = graph.nodes[1]
    assert silu.inputs == [conv] and silu.name == "swish" and silu.output is graph.outputs[0]


def test_sigmoid_with_another_use_stays_for_it():
    b = Builder()
    x = b.input("x", (2, 8))
    sig = b.node(Op.SIGMOID, [x], name="sig")
    silu = b.node(Op.MUL, [x, sig], name="silu")
    graph = b.output(silu, b.node(Op.NEG, [sig], name="neg"))

    run_and_compare(graph, "recognize-silu")
    assert ops(graph) == ["Sigmoid", "SiLU", "Neg"]


def test_sigmoid_gating_another_tensor_is_not_silu():
    b = Builder()
    x = b.input("x", (2, 8))
    y = b.input("y", (2, 8))
    gate = b.node(Op.SIGMOID, [x], name="gate")
    graph = b.output(b.node(Op.MUL, [y, gate], name="gated"))

    assert run_and_compare(graph, "recognize-silu")[0].rewrites == 0
    assert explain(graph, RULE) == {"gated": "no operand is the Sigmoid of the other"}


def test_yolox_has_74_silus_and_6_plain_sigmoids(shared_models):
    graph = load_model(shared_models / "yolox_det.onnx")
    assert Counter(ops(graph))["Sigmoid"] == 80 and Counter(ops(graph))["Mul"] == 74

    assert run_and_compare(graph, "recognize-silu")[0].rewrites == 74
    counts = Counter(ops(graph))
    assert (counts["SiLU"], counts["Sigmoid"], counts["Mul"]) == (74, 6, 0)
    assert all(user.op is Op.CONCAT for n in graph.nodes_of(Op.SIGMOID) for user in n.output.users())
