"""cleanup: the cleanup passes to a fixpoint, on small graphs and on the real models."""

from __future__ import annotations

from collections import Counter

import numpy as np
from helpers import Builder, ops, random_feeds, run_and_compare

from edgec.frontend import load_model
from edgec.ir import Op
from edgec.passes import REGISTRY, make_spec, run_passes
from edgec.passes.cleanup import CLEANUP_PASSES
from edgec.runtime import run, run_graph, session


def test_pipeline_order_and_registration():
    assert CLEANUP_PASSES == (
        "fold-constants",
        "eliminate-identity",
        "eliminate-dead",
        "fuse-pad",
        "fuse-batchnorm",
        "fuse-scale",
        "fuse-bias",
        "recognize-silu",
        "recognize-hardswish",
        "fuse-activation",
        "eliminate-dead",
    )
    assert set(CLEANUP_PASSES) | {"cleanup"} <= set(REGISTRY)


def test_mobilenet_block_collapses_to_fused_convs():
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    conv = b.conv(x, 8, bias=False)
    bn = b.batchnorm(conv)
    three = b.const("three", np.float32(3))
    clip = b.node(
        Op.CLIP,
        [
            b.node(Op.ADD, [bn, three], name="plus3"),
            b.const("lo", np.float32(0)),
            b.const("hi", np.float32(6)),
        ],
        name="relu6",
    )
    hswish = b.node(
        Op.DIV, [b.node(Op.MUL, [bn, clip], name="prod"), b.const("six", np.float32(6))], name="hs"
    )
    channel_bias = b.node(
        Op.RESHAPE,
        [b.weight("bias", 8), b.const("shape", np.array([1, 8, 1, 1]))],
        (1, 8, 1, 1),
        name="bias_4d",
        allowzero=0,
    )
    conv2 = b.node(Op.ADD, [b.conv(hswish, 8, bias=False), channel_bias], name="biased")
    sig = b.node(Op.SIGMOID, [conv2], name="sig")
    silu = b.node(Op.MUL, [sig, conv2], name="silu")
    graph = b.output(b.node(Op.IDENTITY, [silu], name="output"))

    records = run_and_compare(graph, "cleanup", rtol=1e-4, atol=1e-4)

    assert records[0].rewrites > 0
    assert ops(graph) == ["Conv", "Conv"]
    first, second = graph.nodes
    assert first.attrs["activation"] is Op.HARD_SWISH and second.attrs["activation"] is Op.SILU
    assert second.const_input(2) is not None
    assert graph.outputs[0].name == "output" and second.output is graph.outputs[0]


def _cleaned_matches_original(path, input_shapes):
    graph = load_model(path, input_shapes)
    feeds = random_feeds(graph)
    expected = run(session(path), feeds)
    run_passes(graph, [make_spec("cleanup")])
    got = run_graph(graph, feeds)
    assert list(got) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
    return graph


def _activations(graph):
    return Counter(str(node.attrs.get("activation")) for node in graph.nodes_of(Op.CONV, Op.GEMM))


def test_ppocr_cls_hardswish_batchnorm_bias_and_identity(shared_models):
    graph = _cleaned_matches_original(shared_models / "ppocr_mobile_v2_cls.onnx", {"x": (1, 3, 48, 192)})
    counts = Counter(ops(graph))
    assert counts["Conv"] == 53 and counts["Gemm"] == 1 and counts["Mul"] == 9
    for gone in ("BatchNormalization", "Clip", "Div", "Identity", "MatMul", "HardSigmoid", "Relu"):
        assert counts[gone] == 0, gone
    assert _activations(graph) == {"HardSwish": 18, "Relu": 15, "HardSigmoid": 9, "None": 12}
    assert graph.outputs[0].name == "save_infer_model/scale_0.tmp_1"


def test_yolox_silu(shared_models):
    graph = _cleaned_matches_original(shared_models / "yolox_det.onnx", {})
    assert Counter(ops(graph))["Mul"] == 0
    assert _activations(graph) == {"SiLU": 74, "Sigmoid": 6, "None": 3}


def test_efficientnet_relu6_and_same_padding(shared_models):
    graph = _cleaned_matches_original(shared_models / "efficientnet_lite0.onnx", {})
    counts = Counter(ops(graph))
    assert counts["Clip"] == 0 and counts["Pad"] == 0
    assert counts == {"Conv": 49, "Add": 9, "GlobalAveragePool": 1, "Reshape": 1, "Gemm": 1}
    assert _activations(graph) == {"Clip": 33, "None": 17}
    relu6 = {"min": 0.0, "max": 6.0}
    assert all(n.attrs["activation_attrs"] == relu6 for n in graph.nodes if n.attrs.get("activation"))
