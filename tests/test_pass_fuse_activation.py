"""fuse-activation: activations after Conv, ConvTranspose and Gemm become attributes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, ops, run_and_compare

from edgec.ir import Op
from edgec.passes import fuse_activation
from edgec.passes.rewrite import explain

RULE = fuse_activation.RULES[0]

ACTIVATIONS = [
    (Op.RELU, {}, {}),
    (Op.SIGMOID, {}, {}),
    (Op.SILU, {}, {}),
    (Op.HARD_SWISH, {}, {}),
    (Op.TANH, {}, {}),
    (Op.LEAKY_RELU, {"alpha": 0.1}, {"alpha": 0.1}),
    (Op.HARD_SIGMOID, {"alpha": 0.2, "beta": 0.5}, {"alpha": 0.2, "beta": 0.5}),
]


def _producer(b: Builder, kind: str):
    if kind == "gemm":
        return b.gemm(b.input("x", (2, 8)), 4, trans_b=1)
    if kind == "conv_transpose":
        return b.conv_transpose(b.input("x", (1, 4, 3, 3)), 4)
    return b.conv(b.input("x", (1, 3, 5, 5)), 4)


@pytest.mark.parametrize("kind", ["conv", "conv_transpose", "gemm"])
@pytest.mark.parametrize(("op", "attrs", "expected"), ACTIVATIONS, ids=[a[0].value for a in ACTIVATIONS])
def test_activation_becomes_an_attribute(kind, op, attrs, expected):
    b = Builder()
    pre = _producer(b, kind)
    graph = b.output(b.node(op, [pre], name="act", **attrs))

    assert run_and_compare(graph, "fuse-activation")[0].rewrites == 1
    (node,) = graph.nodes
    assert node.name == pre.name and node.output.name == "act"
    assert node.attrs["activation"] is op
    assert node.attrs["activation_attrs"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [((0.0, 6.0), {"min": 0.0, "max": 6.0}), ((None, 2.5), {"min": float("-inf"), "max": 2.5})],
)
def test_clip_with_constant_bounds_fuses_with_them(bounds, expected):
    b = Builder()
    conv = b.conv(b.input("x", (1, 3, 5, 5)), 4)
    lo, hi = (None if v is None else b.const(f"bound{i}", np.float32(v)) for i, v in enumerate(bounds))
    graph = b.output(b.node(Op.CLIP, [conv, lo, hi], name="relu6"))

    run_and_compare(graph, "fuse-activation")
    assert ops(graph) == ["Conv"]
    assert graph.nodes[0].attrs["activation_attrs"] == expected


def test_refusals_say_why():
    b = Builder()
    x = b.input("x", (1, 3, 5, 5))
    shared = b.conv(x, 4)
    b.node(Op.RELU, [shared], name="first_user")
    second = b.node(Op.SIGMOID, [shared], name="second_user")
    dynamic_max = b.node(Op.CLIP, [b.conv(x, 4), None, b.input("limit", ())], name="dynamic_max")
    already = b.node(Op.TANH, [b.conv(x, 4, activation=Op.RELU, activation_attrs={})], name="already")
    not_conv = b.node(Op.RELU, [b.node(Op.ADD, [x, x], name="sum")], name="not_conv")
    graph = b.output(b.graph.values["first_user"], second, dynamic_max, already, not_conv)

    assert run_and_compare(graph, "fuse-activation")[0].rewrites == 0
    reasons = explain(graph, RULE)
    assert reasons["second_user"] == f"'{shared.name}' has 2 uses"
    assert reasons["dynamic_max"] == "the max bound of Clip should be a constant number"
    assert "already has a fused activation" in reasons["already"]
    assert reasons["not_conv"] == "the input is not produced by Conv, ConvTranspose or Gemm"
