"""Model analysis: MACs, parameters, peak memory, the roofline estimate and the inspect report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import Builder

from edgec.analysis import format_inspect, inspect_model
from edgec.errors import TargetError
from edgec.ir import Graph, Layout, Op
from edgec.ir.statistics import node_macs, op_histogram, peak_memory, weight_values
from edgec.plugin import Unsupported
from edgec.targets import Target, load_catalogue

I64 = np.int64


def _conv_attrs(kernel: int, stride: int, pad: int, group: int) -> dict:
    return {
        "kernel_shape": [kernel, kernel],
        "strides": [stride, stride],
        "pads": [pad] * 4,
        "dilations": [1, 1],
        "group": group,
        "auto_pad": "NOTSET",
    }


def _only_node(graph: Graph, op: Op) -> int:
    (node,) = graph.nodes_of(op)
    return node_macs(node)


def test_conv_macs():
    b = Builder()
    y = b.conv(b.input("x", (1, 3, 8, 8)), 16, kernel=3)
    graph = b.output(y)
    # 16 output channels x 8 x 8 positions x (3 input channels x 3 x 3)
    assert _only_node(graph, Op.CONV) == 16 * 64 * 27


def test_depthwise_conv_with_stride_macs():
    b = Builder()
    x = b.input("x", (1, 8, 10, 10))
    w = b.weight("w", 8, 1, 3, 3)
    y = b.node(Op.CONV, [x, w], (1, 8, 5, 5), **_conv_attrs(3, 2, 1, group=8))
    graph = b.output(y)
    assert _only_node(graph, Op.CONV) == 8 * 25 * 9


def test_grouped_conv_macs():
    b = Builder()
    y = b.conv(b.input("x", (2, 4, 6, 6)), 6, kernel=1, group=2)
    graph = b.output(y)
    # batch 2 x 6 channels x 36 positions x (4 / 2 input channels per group)
    assert _only_node(graph, Op.CONV) == 2 * 6 * 36 * 2


def test_conv_transpose_macs():
    b = Builder()
    y = b.conv_transpose(b.input("x", (1, 4, 5, 5)), 6, group=2)
    graph = b.output(y)
    # each of the 100 input elements feeds 6 / 2 output channels x 2 x 2 kernel positions
    assert _only_node(graph, Op.CONV_TRANSPOSE) == 100 * 3 * 4


@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_macs(trans_a):
    b = Builder()
    x = b.input("x", (5, 2) if trans_a else (2, 5))
    w = b.weight("w", 3, 5)
    c = b.weight("c", 3)
    y = b.node(Op.GEMM, [x, w, c], (2, 3), alpha=1.0, beta=1.0, transA=trans_a, transB=1)
    graph = b.output(y)
    assert _only_node(graph, Op.GEMM) == 2 * 3 * 5


def test_batched_matmul_macs():
    b = Builder()
    y = b.node(Op.MATMUL, [b.input("a", (2, 4, 6)), b.input("b", (6, 3))], (2, 4, 3))
    graph = b.output(y)
    assert _only_node(graph, Op.MATMUL) == 2 * 4 * 3 * 6


def test_lstm_macs():
    b = Builder()
    x = b.input("x", (7, 2, 10))
    w, r = b.weight("W", 1, 80, 10), b.weight("R", 1, 80, 20)
    attrs = {"hidden_size": 20, "direction": "forward", "layout": 0, "input_forget": 0}
    y = b.node(Op.LSTM, [x, w, r], (7, 1, 2, 20), **attrs)
    graph = b.output(y)
    # 7 steps x batch 2 x 4 gates x 20 units x (10 inputs + 20 recurrent)
    assert _only_node(graph, Op.LSTM) == 7 * 2 * 80 * 30


def test_elementwise_ops_have_no_macs():
    b = Builder()
    x = b.input("x", (1, 4))
    y = b.node(Op.ADD, [b.node(Op.RELU, [x]), x])
    graph = b.output(y)
    assert [node_macs(n) for n in graph.nodes] == [0, 0]


def test_parameters_count_weights_once_and_skip_configuration():
    b = Builder()
    y = b.conv(b.input("x", (1, 3, 4, 4)), 16, kernel=3)
    scale = b.weight("scale", 1, 16, 1, 1)
    y = b.node(Op.MUL, [b.node(Op.MUL, [y, scale]), scale])
    y = b.node(Op.RESHAPE, [y, b.const("shape", np.array([1, -1], I64))], (1, 256), allowzero=0)
    graph = b.output(y)
    weights = weight_values(graph)
    assert sorted(v.size for v in weights) == [16, 16, 16 * 27]
    report = inspect_model(graph)
    assert report["parameters"] == 16 + 16 + 432
    assert report["weight_bytes"] == 4 * (16 + 16 + 432)
    assert report["op_histogram"] == {"Mul": 2, "Conv": 1, "Reshape": 1}


def test_peak_memory_of_a_chain():
    b = Builder()
    a = b.node(Op.RELU, [b.input("x", (1, 8))], name="a")  # 32 bytes each
    c = b.node(Op.CONCAT, [a, a], (1, 16), name="c", axis=1)  # 64 bytes
    d = b.node(Op.RELU, [c], name="d")
    graph = b.output(d)
    # step 0: x + a = 64; step 1: a + c = 96 (x is dead); step 2: c + d = 128
    assert peak_memory(graph) == {"bytes": 128, "step": 2, "node": "d"}


def test_peak_memory_of_a_branch_keeps_outputs_and_skips_constants():
    b = Builder()
    x = b.input("x", (1, 8))
    a = b.node(Op.MUL, [x, b.weight("k", 1, 8)], name="a")
    s = b.node(Op.SIGMOID, [x], name="s")
    c = b.node(Op.CONCAT, [a, s], (1, 16), name="c", axis=1)
    e = b.node(Op.RELU, [c], name="e")
    graph = b.output(e, a)
    # step 1: x, a, s = 96; step 2: a, s, c = 128; step 3: a (an output) + c + e = 160
    assert peak_memory(graph) == {"bytes": 160, "step": 3, "node": "e"}


def test_peak_memory_without_nodes_is_the_inputs():
    graph = Graph("empty")
    x = graph.add_input("x", np.float32, (2, 3), Layout.NONE)
    graph.outputs.append(x)
    assert peak_memory(graph) == {"bytes": 24, "step": None, "node": None}


def _unit_target(**changes) -> Target:
    """1 GOPS fp32 / 4 GOPS int8 and 1 GB/s: milliseconds are easy to check by hand."""
    fields = {
        "name": "unit",
        "description": "unit test target",
        "family": "test",
        "backend": "onnxruntime",
        "precisions": ("fp32", "int8", "int8-dynamic"),
        "default_precision": "fp32",
        "unsupported_precisions": {},
        "default_batch": 1,
        "passes": (),
        "peak_gops": {"fp32": 1.0, "int8": 4.0, "int8-dynamic": 4.0},
        "memory_bandwidth_gbs": 1.0,
        "hardware": {},
        "source": "test",
    }
    return Target(**{**fields, **changes})


def _fc_graph() -> Graph:
    b = Builder("fc")
    x = b.input("x", (1, 1000))
    y = b.node(Op.GEMM, [x, b.weight("w", 1000, 1000)], (1, 1000), alpha=1.0, beta=1.0, transA=0, transB=0)
    y = b.node(Op.RESHAPE, [y, b.const("shape", np.array([1, 10, 100], I64))], (1, 10, 100), allowzero=0)
    return b.output(y)


@pytest.mark.parametrize(
    ("precision", "gemm_ms", "bound"),
    [
        ("fp32", 4.008, "memory"),  # (4 KB in + 4 MB weights + 4 KB out) at 1 GB/s > 2e6 ops at 1 GOPS
        ("int8", 1.002, "memory"),  # 1-byte activations and weights; compute 0.5 ms
        ("int8-dynamic", 1.008, "memory"),  # 4-byte activations, 1-byte weights
    ],
)
def test_roofline_latency_by_precision(precision, gemm_ms, bound):
    report = inspect_model(_fc_graph(), _unit_target(), precision=precision)
    latency = report["target"]["latency"]
    gemm, reshape = latency["layers"]
    assert gemm["macs"] == 1_000_000
    assert gemm["ms"] == pytest.approx(gemm_ms)
    assert gemm["bound"] == bound
    assert (reshape["ms"], reshape["bound"]) == (0.0, "free")
    assert latency["total_ms"] == pytest.approx(gemm_ms)
    assert latency["precision"] == precision


def test_roofline_compute_bound_when_bandwidth_is_plentiful():
    target = _unit_target(memory_bandwidth_gbs=1000.0)
    latency = inspect_model(_fc_graph(), target)["target"]["latency"]
    assert latency["layers"][0]["bound"] == "compute"
    assert latency["total_ms"] == pytest.approx(2.0)
    assert (latency["compute_bound_nodes"], latency["memory_bound_nodes"]) == (1, 0)


def test_inspect_refuses_a_precision_the_target_cannot_run():
    nano = load_catalogue().get("jetson-nano")
    with pytest.raises(TargetError, match="jetson-nano"):
        inspect_model(_fc_graph(), nano, precision="int8")


def test_report_is_json_ready_deterministic_and_ordered():
    nano = load_catalogue().get("jetson-nano")
    report = inspect_model(_fc_graph(), nano)
    assert list(report) == [
        "model",
        "inputs",
        "outputs",
        "nodes",
        "op_histogram",
        "parameters",
        "weight_bytes",
        "macs",
        "peak_memory",
        "target",
    ]
    assert report["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1, 1000], "layout": None}]
    assert report["macs"]["total"] == 1_000_000
    assert report["target"]["precision"] == "fp16"
    assert report["target"]["unsupported"] == []
    assert json.dumps(report) == json.dumps(inspect_model(_fc_graph(), nano))
    assert inspect_model(_fc_graph())["target"] is None


def test_format_inspect_text():
    graph = _fc_graph()
    nano = load_catalogue().get("jetson-nano")
    text = format_inspect(inspect_model(graph, nano))
    assert "parameters: 1,000,000 (3.81 MiB of weights)" in text
    assert "MACs: 1.00 M (1,000,000) in 1 layer" in text
    assert "peak activation memory: 7.81 KiB (8,000 bytes) while node 'gemm_0' runs (step 0)" in text
    assert "unsupported nodes: none" in text
    assert "estimated latency:" in text
    assert "472 GOPS peak at fp16" in text
    flagged = [Unsupported(node=graph.nodes[0].name, op="Gemm", reason="no Gemm here; use MatMul")]
    text = format_inspect(inspect_model(graph, nano, flagged))
    assert f"unsupported nodes (1):\n    Gemm node '{graph.nodes[0].name}': no Gemm here; use MatMul" in text
    assert "target" not in format_inspect(inspect_model(graph))


def test_op_histogram_orders_by_count_then_name():
    b = Builder()
    x = b.input("x", (1, 4))
    y = b.node(Op.TANH, [b.node(Op.RELU, [b.node(Op.RELU, [b.node(Op.ABS, [x])])])])
    assert op_histogram(b.output(y)) == {"Relu": 2, "Abs": 1, "Tanh": 1}


def test_efficientnet_lite0(shared_models):
    from edgec.frontend import load_model

    graph = load_model(shared_models / "efficientnet_lite0.onnx", {}, default_batch=1)
    report = inspect_model(graph, load_catalogue().get("jetson-nano"))
    # Public figure: about 385-407 M MACs; the Conv/Gemm formula over ONNX Runtime's own
    # output shapes of the original file gives exactly 385,187,552.
    assert report["macs"]["total"] == 385_187_552
    assert 4.5e6 <= report["parameters"] <= 4.8e6  # public figure: 4.6-4.7 M
    # Peak: the 96x112x112 expansion of block 1 (4.8 MB in fp32) and its padded copy (4.9 MB).
    assert report["peak_memory"]["bytes"] == 4 * 96 * (112 * 112 + 113 * 113)
    assert report["target"]["latency"]["total_ms"] > 0
    assert "estimated latency" in format_inspect(report)


@pytest.mark.parametrize(
    ("file", "shapes", "low", "high"),
    [
        ("ppocr_mobile_v2_cls.onnx", {"x": (1, 3, 48, 192)}, 10e6, 30e6),
        # YOLOX-tiny at 416x416: public figure 6.45 GFLOPs, i.e. about 3.2 G MACs.
        ("yolox_det.onnx", {}, 3.0e9, 3.4e9),
    ],
)
def test_real_models_inspect_on_every_backend_family(shared_models, file, shapes, low, high):
    from edgec.frontend import load_model

    graph = load_model(shared_models / file, shapes, default_batch=1)
    catalogue = load_catalogue()
    for name in ["jetson-agx-orin", "rpi4", "coral-edgetpu", "snapdragon-8gen2-htp", "onnxruntime-cpu"]:
        report = inspect_model(graph, catalogue.get(name))
        assert low <= report["macs"]["total"] <= high
        assert report["peak_memory"]["bytes"] > 0
        assert report["target"]["latency"]["total_ms"] > 0
        json.dumps(report)
