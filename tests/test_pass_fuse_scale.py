"""fuse-scale: a per-channel constant Mul after a Conv folds into its weights and bias."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, ops, run_and_compare, weights

from edgec.ir import Op
from edgec.passes import fuse_scale
from edgec.passes.rewrite import explain

RULE = fuse_scale.RULES[0]


@pytest.mark.parametrize("shape", [(1, 6, 1, 1), (6, 1, 1), (1,), ()])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_times_per_channel_constant_folds_into_weights_and_bias(shape, bias):
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 6, bias=bias, group=3)
    scale = b.const("scale", weights(*shape, seed=7))
    graph = b.output(b.node(Op.MUL, [scale, conv], conv.shape, name="out"))

    assert run_and_compare(graph, "fuse-scale")[0].rewrites == 1
    assert ops(graph) == ["Conv"]
    assert graph.outputs[0].name == "out"


def test_learnable_affine_block_becomes_one_conv_in_cleanup():
    """PP-LCNetV3's Conv * scale + bias (scalars): one Conv after cleanup (fuse-scale, fuse-bias)."""
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    scaled = b.node(Op.MUL, [b.conv(x, 4), b.const("s", np.array([1.7], np.float32))], name="scaled")
    graph = b.output(b.node(Op.ADD, [scaled, b.const("t", np.array([-0.3], np.float32))], name="out"))

    run_and_compare(graph, "cleanup")
    assert ops(graph) == ["Conv"]


def test_refusals_say_why():
    b = Builder()
    x = b.input("x", (1, 3, 4, 4))
    along_width = b.node(Op.MUL, [b.conv(x, 4), b.const("c", np.ones(4, np.float32))], name="along_width")
    shared = b.conv(x, 4)
    two_users = b.node(Op.MUL, [shared, b.const("c1", np.ones((4, 1, 1), np.float32))], name="two_users")
    other = b.node(Op.RELU, [shared], name="other")
    fused = b.conv(x, 4, activation=Op.RELU, activation_attrs={})
    after_activation = b.node(Op.MUL, [fused, b.const("c2", np.ones((4, 1, 1), np.float32))], name="after")
    both_dynamic = b.node(Op.MUL, [along_width, two_users], name="both_dynamic")
    graph = b.output(both_dynamic, other, after_activation)

    assert run_and_compare(graph, "fuse-scale")[0].rewrites == 0
    reasons = explain(graph, RULE)
    assert "is not per output channel" in reasons["along_width"]
    assert reasons["two_users"] == f"'{shared.name}' has 2 uses"
    assert "already has a fused activation" in reasons["after"]
    assert reasons["both_dynamic"] == "Mul should have exactly one constant operand"
