"""Centring ``Clip(0, hi)`` outputs for symmetric int8: same function, half the activation step."""

from __future__ import annotations

import numpy as np
from helpers import Builder, ops

from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.ir import Graph, Op, verify
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    bias_corrections,
    calibrate,
    compare_outputs,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.centering import centre_clipped_activations
from edgec.quantization.qdq import clone_graph

RELU6 = {"activation": Op.CLIP, "activation_attrs": {"min": 0.0, "max": 6.0}}


def _mobile_block() -> Graph:
    """stem(ReLU6) -> depthwise(ReLU6, TF-same pads) -> 1x1(ReLU6) -> GAP -> Flatten -> Gemm,
    and a ReLU6 side branch that feeds an Add (not centrable)."""
    b = Builder("mobile")
    x = b.input("x", (1, 3, 12, 12))
    stem = b.conv(x, 8, name="stem", **RELU6)
    depthwise = b.conv(stem, 8, group=8, pads=[0, 0, 1, 1], name="depthwise", **RELU6)
    depthwise.shape = (1, 8, 11, 11)
    head = b.conv(depthwise, 16, kernel=1, name="head", **RELU6)
    side = b.conv(depthwise, 16, kernel=1, name="side", **RELU6)
    total = b.node(Op.ADD, [head, side], name="total")
    pooled = b.node(Op.GLOBAL_AVERAGE_POOL, [head], (1, 16, 1, 1), name="pooled")
    flat = b.node(Op.FLATTEN, [pooled], (1, 16), name="flat", axis=1)
    return b.output(b.gemm(flat, 10, trans_b=1, name="logits"), total)


def _images(graph: Graph, count: int, seed: int) -> Dataset:
    (x,) = graph.inputs
    data = np.random.default_rng(seed).standard_normal((count, *x.shape)).astype(np.float32)
    return Dataset({x.name: data}, "random")


def _pad_values(graph: Graph) -> list[float]:
    return [float(node.const_input(2)) for node in graph.nodes_of(Op.PAD)]


def test_centring_keeps_the_function_and_skips_what_cannot_absorb_the_shift():
    graph = _mobile_block()
    before = clone_graph(graph)
    data = _images(graph, 8, 0)
    centred = centre_clipped_activations(graph)
    verify(graph)
    assert centred == ["stem", "depthwise"]  # head feeds an Add too; side only the Add
    assert graph.node_by_name("head").attrs["activation_attrs"] == {"min": 0.0, "max": 6.0}
    assert graph.node_by_name("stem").attrs["activation_attrs"] == {"min": -3.0, "max": 3.0}
    # The depthwise conv's padding (stem -> depthwise) now pads with -3; the 1x1 convs have none.
    assert ops(graph).count("Pad") == 1 and _pad_values(graph) == [-3.0]
    assert graph.node_by_name("depthwise").attrs["pads"] == [0, 0, 0, 0]
    expected, got = run_dataset(before, data), run_dataset(graph, data)
    for name, array in expected.items():
        np.testing.assert_allclose(got[name], array, rtol=1e-5, atol=1e-4, err_msg=name)


def test_gap_flatten_gemm_take_the_shift():
    graph = _mobile_block()
    graph.outputs = [v for v in graph.outputs if v.name != "total"]
    add = graph.node_by_name("total")
    graph.remove_node(add)
    graph.remove_node(graph.node_by_name("side"))
    before = clone_graph(graph)
    assert centre_clipped_activations(graph) == ["stem", "depthwise", "head"]
    data = _images(graph, 8, 1)
    np.testing.assert_allclose(
        run_dataset(graph, data)["logits"], run_dataset(before, data)["logits"], rtol=1e-5, atol=1e-4
    )


def _symmetric_snr(graph: Graph, calibration: Dataset, validation: Dataset, reference) -> float:
    result = calibrate(graph, calibration, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    qdq = quantize_qdq(graph, TENSORRT_SCHEME.placement, biases=bias_corrections(graph, result))
    return compare_outputs(reference, run_dataset(qdq, validation)).outputs["logits"].snr_db


def test_centring_lowers_the_symmetric_int8_error():
    """ReLU6 outputs quantized with step 3/127 instead of 6/127: the logits' SNR rises by over 3 dB
    (on the same weights, data and minmax ranges, bias correction on)."""
    graph = _mobile_block()
    graph.outputs = graph.outputs[:1]
    graph.remove_node(graph.node_by_name("total"))
    graph.remove_node(graph.node_by_name("side"))
    calibration, validation = _images(graph, 32, 2), _images(graph, 32, 3)
    reference = run_dataset(graph, validation)
    plain = _symmetric_snr(clone_graph(graph), calibration, validation, reference)
    centre_clipped_activations(graph)
    centred = _symmetric_snr(graph, calibration, validation, reference)
    assert centred > plain + 3.0, (plain, centred)


def test_other_activations_stay():
    b = Builder("others")
    x = b.input("x", (1, 3, 6, 6))
    shifted = b.conv(x, 4, activation=Op.CLIP, activation_attrs={"min": 1.0, "max": 6.0})
    relu = b.conv(shifted, 4, activation=Op.RELU, activation_attrs={})
    graph = b.output(b.conv(relu, 4, **RELU6))
    assert centre_clipped_activations(graph) == []  # the last one is a graph output
