"""``unfuse-activation``: activations a TFLite int8 kernel cannot fuse become nodes again."""

from __future__ import annotations

from helpers import Builder, ops, run_and_compare

from edgec.ir import Op


def _conv_with(activation: Op, **extra: float) -> Builder:
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    y = b.conv(x, 4, activation=activation, activation_attrs=dict(extra))
    b.output(
        b.gemm(
            b.node(Op.FLATTEN, [y], (1, 256), axis=1), 3, activation=activation, activation_attrs=dict(extra)
        )
    )
    return b


def test_hardswish_leaky_relu_and_wide_clip_are_split_out():
    for activation, extra in (
        (Op.HARD_SWISH, {}),
        (Op.LEAKY_RELU, {"alpha": 0.1}),
        (Op.CLIP, {"min": -2.0, "max": 2.0}),
    ):
        b = _conv_with(activation, **extra)
        records = run_and_compare(b.graph, "unfuse-activation")
        assert records[0].rewrites == 2
        assert ops(b.graph).count(activation.value) == 2, ops(b.graph)
        assert all(n.attrs.get("activation") is None for n in b.graph.nodes_of(Op.CONV, Op.GEMM))


def test_relu_relu6_and_hard_sigmoid_stay_fused():
    for activation, extra in (
        (Op.RELU, {}),
        (Op.CLIP, {"min": 0.0, "max": 6.0}),
        (Op.HARD_SIGMOID, {"alpha": 0.2, "beta": 0.5}),
    ):
        b = _conv_with(activation, **extra)
        records = run_and_compare(b.graph, "unfuse-activation")
        assert records[0].rewrites == 0
        assert ops(b.graph) == ["Conv", "Flatten", "Gemm"]
