"""fuse-batchnorm: inference BatchNormalization folds into Conv, ConvTranspose and Gemm."""

from __future__ import annotations

import pytest
from helpers import Builder, ops, run_and_compare

from edgec.ir import Op
from edgec.passes import fuse_batchnorm
from edgec.passes.rewrite import explain

RULE = fuse_batchnorm.RULES[0]


@pytest.mark.parametrize(("group", "bias"), [(1, True), (1, False), (2, True)])
def test_conv_then_batchnorm_becomes_one_conv(group, bias):
    b = Builder()
    x = b.input("x", (1, 4, 5, 5))
    bn = b.batchnorm(b.conv(x, 6, group=group, bias=bias))
    graph = b.output(b.node(Op.RELU, [bn], name="out"))

    assert run_and_compare(graph, "fuse-batchnorm")[0].rewrites == 1
    assert ops(graph) == ["Conv", "Relu"]
    conv = graph.nodes[0]
    assert conv.const_input(2) is not None and conv.attrs["group"] == group


@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose_scales_its_c_in_by_c_out_weight(group):
    b = Builder()
    x = b.input("x", (1, 4, 3, 3))
    graph = b.output(b.batchnorm(b.conv_transpose(x, 6, group=group, bias=group == 1)))

    run_and_compare(graph, "fuse-batchnorm")
    assert ops(graph) == ["ConvTranspose"]


@pytest.mark.parametrize(("trans_b", "bias", "beta"), [(0, True, 1.0), (1, True, 0.5), (1, False, 1.0)])
def test_gemm_then_batchnorm_becomes_one_gemm(trans_b, bias, beta):
    b = Builder()
    x = b.input("x", (3, 8))
    graph = b.output(b.batchnorm(b.gemm(x, 5, trans_b=trans_b, bias=bias, beta=beta)))

    run_and_compare(graph, "fuse-batchnorm")
    assert ops(graph) == ["Gemm"]
    assert graph.nodes[0].attrs["transB"] == trans_b


def test_fused_conv_keeps_the_graph_output_name_and_the_conv_name():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 3)
    params = [b.const(name, [1.5, 0.5, 2.0]) for name in ("scale", "B", "mean", "var")]
    bn = b.node(
        Op.BATCH_NORMALIZATION, [conv, *params], name="bn_out", epsilon=1e-3, momentum=0.9, training_mode=0
    )
    graph = b.output(bn)

    run_and_compare(graph, "fuse-batchnorm")
    assert graph.outputs[0].name == "bn_out"
    assert graph.nodes[0].name == conv.name
    assert graph.nodes[0].output is graph.outputs[0]


def test_batchnorm_after_conv_with_two_users_stays():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 3)
    bn = b.batchnorm(conv)
    graph = b.output(bn, b.node(Op.RELU, [conv], name="other"))

    assert run_and_compare(graph, "fuse-batchnorm")[0].rewrites == 0
    assert explain(graph, RULE)[bn.name] == f"'{conv.name}' has 2 uses"


def test_standalone_batchnorm_and_batchnorm_after_fused_activation_stay():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    standalone = b.batchnorm(x)
    conv = b.conv(standalone, 3, activation=Op.RELU, activation_attrs={})
    after_relu = b.batchnorm(conv)
    graph = b.output(after_relu)

    assert run_and_compare(graph, "fuse-batchnorm")[0].rewrites == 0
    reasons = explain(graph, RULE)
    assert reasons[standalone.name] == "the input is not produced by Conv, ConvTranspose or Gemm"
    assert "already has a fused activation" in reasons[after_relu.name]
