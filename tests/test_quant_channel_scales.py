"""Per-channel scales for Conv inputs: same function, every channel on more of the int8 grid."""

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
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.channel_scales import channel_scales, scale_conv_inputs
from edgec.quantization.qdq import clone_graph

HARDSWISH = {"activation": Op.HARD_SWISH, "activation_attrs": {}}


def _uneven_block() -> Graph:
    """stem(HardSwish, channel c's weights times 10**-c/2) -> depthwise(HardSwish) -> 1x1 -> output,
    and a second depthwise reading the same stem; the 1x1 (dense) Conv's input gets balanced scales."""
    b = Builder("uneven")
    x = b.input("x", (1, 3, 10, 10))
    stem = b.conv(x, 6, name="stem", **HARDSWISH)
    weight = stem.producer.inputs[1]
    weight.data = (weight.data * 10.0 ** (-np.arange(6) / 2.0)[:, None, None, None]).astype(np.float32)
    depthwise = b.conv(stem, 6, group=6, name="depthwise", **HARDSWISH)
    twin = b.conv(stem, 12, group=6, name="twin")
    joined = b.node(
        Op.ADD, [b.conv(depthwise, 12, kernel=1, name="mix"), twin], (1, 12, 10, 10), name="joined"
    )
    return b.output(joined, twin)


def _data(graph: Graph, count: int, seed: int) -> Dataset:
    (x,) = graph.inputs
    return Dataset(
        {x.name: np.random.default_rng(seed).standard_normal((count, *x.shape), np.float32)}, "random"
    )


def test_scaling_keeps_the_function_and_scales_only_what_depthwise_convs_read():
    graph = _uneven_block()
    before = clone_graph(graph)
    assert scale_conv_inputs(graph, _data(graph, 8, 0)) == ["stem", "depthwise"]
    verify(graph)
    assert ops(graph).count("Mul") == 2
    scales = graph.values["stem_channel_scales"].data.reshape(-1)
    assert scales[0] == 1.0 and np.all(scales[1:] > 2.0)  # the widest channel stays, the others grow
    data = _data(graph, 4, 1)
    np.testing.assert_allclose(
        run_dataset(graph, data)["joined"], run_dataset(before, data)["joined"], rtol=1e-4, atol=1e-4
    )


def test_channel_scales():
    np.testing.assert_allclose(channel_scales(np.array([4.0, 2.0, 1.0])), [1.0, 2.0, 4.0])
    np.testing.assert_allclose(channel_scales(np.array([1.0, 0.0])), [1.0, 1000.0])
    np.testing.assert_allclose(channel_scales(np.zeros(2)), [1.0, 1.0])
    np.testing.assert_allclose(channel_scales(np.array([4.0, 1.0]), balanced=True), [1.0, 2.0])


def _channel_snr(graph: Graph, calibration: Dataset, validation: Dataset, reference) -> float:
    """The median over the depthwise output's channels of each channel's SNR in dB."""
    result = calibrate(graph, calibration, CalibrationConfig(method="minmax"), TENSORRT_SCHEME)
    qdq = quantize_qdq(graph, TENSORRT_SCHEME.placement, biases=bias_corrections(graph, result))
    name = graph.outputs[1].name
    expected, got = reference[name], run_dataset(qdq, validation)[name]
    axes = tuple(i for i in range(expected.ndim) if i != 2)  # [sample, batch, channel, h, w]
    power = (expected**2).sum(axis=axes) / ((got - expected) ** 2).sum(axis=axes)
    return float(np.median(10.0 * np.log10(power)))


def test_scaling_lowers_the_symmetric_int8_error():
    """Channels up to 10**2.5 apart on one per-tensor scale: the narrow ones lose most of their bits."""
    graph = _uneven_block()
    calibration, validation = _data(graph, 32, 2), _data(graph, 32, 3)
    reference = run_dataset(graph, validation)
    plain = _channel_snr(clone_graph(graph), calibration, validation, reference)
    scale_conv_inputs(graph, calibration)
    scaled = _channel_snr(graph, calibration, validation, reference)
    assert scaled > plain + 6.0, (plain, scaled)
