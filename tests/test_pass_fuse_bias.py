"""fuse-bias: a per-channel constant Add folds into the bias; MatMul + Add becomes Gemm."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, ops, run_and_compare, weights

from edgec.ir import Op
from edgec.passes import fuse_bias
from edgec.passes.rewrite import explain

RULE = fuse_bias.RULES[0]


@pytest.mark.parametrize("shape", [(1, 6, 1, 1), (6, 1, 1), (1,), ()])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_plus_per_channel_constant_folds_into_the_bias(shape, bias):
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 6, bias=bias)
    addend = b.const("addend", weights(*shape, seed=7))
    graph = b.output(b.node(Op.ADD, [addend, conv], conv.shape, name="out"))

    assert run_and_compare(graph, "fuse-bias")[0].rewrites == 1
    assert ops(graph) == ["Conv"]
    assert graph.nodes[0].const_input(2).shape == (6,)
    assert graph.outputs[0].name == "out"


def test_conv_transpose_plus_constant_folds():
    b = Builder()
    x = b.input("x", (1, 4, 3, 3))
    convt = b.conv_transpose(x, 6, group=2)
    graph = b.output(b.node(Op.ADD, [convt, b.const("c", weights(6, 1, 1))], name="out"))

    run_and_compare(graph, "fuse-bias")
    assert ops(graph) == ["ConvTranspose"]


@pytest.mark.parametrize(
    ("shape", "beta", "bias"), [((5,), 1.0, True), ((3, 5), 0.5, True), ((1, 5), 1.0, False)]
)
def test_gemm_plus_constant_folds_into_c(shape, beta, bias):
    b = Builder()
    x = b.input("x", (3, 8))
    gemm = b.gemm(x, 5, trans_b=1, bias=bias, beta=beta)
    graph = b.output(b.node(Op.ADD, [gemm, b.const("c", weights(*shape))], name="out"))

    run_and_compare(graph, "fuse-bias")
    assert ops(graph) == ["Gemm"]
    assert graph.nodes[0].attrs["beta"] == 1.0


def test_matmul_plus_constant_becomes_gemm():
    b = Builder()
    x = b.input("x", (1, 200))
    mm = b.node(Op.MATMUL, [x, b.weight("w", 200, 2)], (1, 2), name="linear")
    graph = b.output(b.node(Op.ADD, [mm, b.const("bias", [0.0065, -0.0065])], name="logits"))

    run_and_compare(graph, "fuse-bias")
    assert ops(graph) == ["Gemm"]
    gemm = graph.nodes[0]
    assert gemm.name == "linear" and gemm.output.name == "logits"
    assert gemm.attrs == {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}


def test_refusals_say_why():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    along_width = b.node(Op.ADD, [b.conv(x, 4), b.const("c", np.ones(4, np.float32))], name="along_width")
    shared = b.conv(x, 4)
    two_users = b.node(Op.ADD, [shared, b.const("c1", np.ones((4, 1, 1), np.float32))], name="two_users")
    other = b.node(Op.RELU, [shared], name="other")
    fused = b.conv(x, 4, activation=Op.RELU, activation_attrs={})
    after_activation = b.node(
        Op.ADD, [fused, b.const("c2", np.ones((4, 1, 1), np.float32))], name="after_act"
    )
    both_dynamic = b.node(Op.ADD, [along_width, two_users], name="both_dynamic")
    batched = b.input("batched", (2, 3, 8))
    mm = b.node(Op.MATMUL, [batched, b.weight("w", 8, 5)], (2, 3, 5), name="mm")
    three_d = b.node(Op.ADD, [mm, b.const("c3", np.ones(5, np.float32))], name="three_d")
    graph = b.output(both_dynamic, other, after_activation, three_d)

    assert run_and_compare(graph, "fuse-bias")[0].rewrites == 0
    reasons = explain(graph, RULE)
    assert "is not per output channel" in reasons["along_width"]
    assert reasons["two_users"] == f"'{shared.name}' has 2 uses"
    assert "already has a fused activation" in reasons["after_act"]
    assert reasons["both_dynamic"] == "Add should have exactly one constant operand"
    assert "2-D input" in reasons["three_d"]


def test_constant_that_widens_the_output_stays():
    b = Builder()
    x = b.input("x", (1, 3, 1, 1))
    conv = b.conv(x, 4, kernel=1)
    wide = b.node(Op.ADD, [conv, b.const("c", weights(1, 4, 3, 3))], (1, 4, 3, 3), name="wide")
    graph = b.output(wide)

    assert run_and_compare(graph, "fuse-bias")[0].rewrites == 0
    assert explain(graph, RULE)["wide"] == "the constant would change the dtype or the shape of the output"
