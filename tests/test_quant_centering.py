"""Centring one-sided activations for symmetric int8 (ReLU6 by its bound, HardSwish and others by
measurement): same function, up to half the activation step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from helpers import Builder, ops

from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.ir import Graph, Op, verify
from edgec.passes.rewrite import unfuse_padding
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    bias_corrections,
    calibrate,
    compare_outputs,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.centering import (
    MIN_STEP_GAIN,
    Shift,
    centre_clipped_activations,
    centre_measured_activations,
    clip_bounded,
    step_gain,
)
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
    centred = [shift.value for shift in centre_clipped_activations(graph)]
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
    assert [shift.value for shift in centre_clipped_activations(graph)] == ["stem", "depthwise", "head"]
    data = _images(graph, 8, 1)
    np.testing.assert_allclose(
        run_dataset(graph, data)["logits"], run_dataset(before, data)["logits"], rtol=1e-5, atol=1e-4
    )


def _symmetric_snr(
    graph: Graph, calibration: Dataset, validation: Dataset, reference, shifts: Sequence[Shift] = ()
) -> float:
    result = calibrate(graph, calibration, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    for shift in shifts:
        shift.snap(graph)
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
    shifts = centre_clipped_activations(graph)
    centred = _symmetric_snr(graph, calibration, validation, reference, shifts)
    assert centred > plain + 3.0, (plain, centred)


def test_other_activations_stay():
    b = Builder("others")
    x = b.input("x", (1, 3, 6, 6))
    shifted = b.conv(x, 4, activation=Op.CLIP, activation_attrs={"min": 1.0, "max": 6.0})
    relu = b.conv(shifted, 4, activation=Op.RELU, activation_attrs={})
    graph = b.output(b.conv(relu, 4, **RELU6))
    assert centre_clipped_activations(graph) == []  # the last one is a graph output


HARDSWISH = {"activation": Op.HARD_SWISH, "activation_attrs": {}}


def _hardswish_block() -> Graph:
    """A PP-LCNet block: stem(HardSwish) -> depthwise(HardSwish) -> squeeze-excite (GAP -> 1x1 ReLU
    -> 1x1 HardSigmoid -> Mul) -> 1x1(HardSwish) -> GAP -> Flatten -> Gemm."""
    b = Builder("lcnet")
    x = b.input("x", (1, 3, 12, 12))
    stem = b.conv(x, 8, name="stem", **HARDSWISH)
    depthwise = b.conv(stem, 8, group=8, name="depthwise", **HARDSWISH)
    squeezed = b.node(Op.GLOBAL_AVERAGE_POOL, [depthwise], (1, 8, 1, 1), name="squeezed")
    reduced = b.conv(squeezed, 4, kernel=1, name="reduce", activation=Op.RELU, activation_attrs={})
    gate = b.conv(
        reduced, 8, kernel=1, name="gate", activation=Op.HARD_SIGMOID,
        activation_attrs={"alpha": 1.0 / 6.0, "beta": 0.5},
    )  # fmt: skip
    excited = b.node(Op.MUL, [depthwise, gate], (1, 8, 12, 12), name="excited")
    head = b.conv(excited, 16, kernel=1, name="head", **HARDSWISH)
    pooled = b.node(Op.GLOBAL_AVERAGE_POOL, [head], (1, 16, 1, 1), name="pooled")
    flat = b.node(Op.FLATTEN, [pooled], (1, 16), name="flat", axis=1)
    return b.output(b.gemm(flat, 10, trans_b=1, name="logits"))


def test_measured_centring_keeps_the_function_of_hardswish_and_squeeze_excite_blocks():
    graph = _hardswish_block()
    before = clone_graph(graph)
    calibration = _images(graph, 8, 4)
    centred = [shift.value for shift in centre_measured_activations(graph, calibration, "percentile", 99.99)]
    verify(graph)
    # stem's output: [-0.375, hi]; the ReLU output and the gated product are one-sided too. The
    # depthwise output also feeds the Mul, which cannot take a shift back: its pooled mean, which
    # only the squeeze conv reads, is shifted instead; so is the Gemm's flattened input.
    assert centred == ["stem", "squeezed", "reduce", "excited", "flat"]
    assert ops(graph).count("Add") == 5
    # The padded depthwise conv reads stem's shifted output through a Pad with the shifted zero.
    assert len(graph.nodes_of(Op.PAD)) == 1
    shift = -float(graph.values["stem_centring"].data)
    assert shift > 0.0 and _pad_values(graph) == [-shift]
    data = _images(graph, 8, 5)
    expected, got = run_dataset(before, data), run_dataset(graph, data)
    np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-4, atol=1e-4)


def test_measured_centring_lowers_the_symmetric_int8_error_of_hardswish_blocks():
    graph = _hardswish_block()
    calibration, validation = _images(graph, 32, 6), _images(graph, 32, 7)
    reference = run_dataset(graph, validation)
    plain = _symmetric_snr(clone_graph(graph), calibration, validation, reference)
    shifts = centre_measured_activations(graph, calibration, "minmax", 100.0)
    centred = _symmetric_snr(graph, calibration, validation, reference, shifts)
    assert centred > plain + 2.0, (plain, centred)


def test_balanced_tensors_are_not_shifted():
    assert step_gain(-1.0, 1.0) == 1.0
    assert step_gain(0.0, 6.0) == 2.0
    assert step_gain(-0.375, 6.0) > MIN_STEP_GAIN > step_gain(-4.0, 6.0)
    b = Builder("linear")
    x = b.input("x", (1, 3, 6, 6))
    graph = b.output(b.conv(b.conv(x, 4), 4))
    assert centre_measured_activations(graph, _images(graph, 4, 8), "percentile", 99.99) == []


def test_clip_outputs_are_left_to_their_bound():
    """ReLU6 outputs are centred by their bound or not at all, never by measurement (nor through a Pad)."""
    graph = _mobile_block()
    unfuse_padding(graph, graph.node_by_name("depthwise"), 0.0)
    assert clip_bounded(graph.node_by_name("depthwise").inputs[0])  # the Pad of stem's output
    assert centre_measured_activations(graph, _images(graph, 4, 9), "percentile", 99.99) == []
