"""equalize: cross-layer equalization keeps the float function and balances the weight ranges of each pair."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from helpers import Builder, ops, random_feeds, run_and_compare

from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.errors import UsageError
from edgec.frontend import load_model
from edgec.ir import Graph, Op, Value
from edgec.passes import make_spec, run_passes
from edgec.passes.equalize import EqualizeOptions, equalize_graph
from edgec.quantization import CalibrationConfig, Dataset, quantize
from edgec.quantization.equalization import conv_input_ranges
from edgec.quantization.options import add_arguments, options_from_args
from edgec.runtime import run_graph

RELU6 = {"activation": Op.CLIP, "activation_attrs": {"min": 0.0, "max": 6.0}}


def _unbalanced(b: Builder, x: Value, c_out: int, group: int = 1, **attrs) -> Value:
    """A 3x3 conv whose output channels span magnitudes from 1e-2 to 1e2 (like folded BatchNorm)."""
    conv = b.conv(x, c_out, group=group, **attrs)
    node = conv.producer
    factors = np.logspace(-2, 2, c_out).astype(np.float32)
    weight = node.const_input(1) * factors.reshape(-1, 1, 1, 1)
    b.graph.set_input(node, 1, b.const(f"{conv.name}_w", weight))
    return conv


def _input_channel_ranges(node) -> np.ndarray:
    weight = np.abs(node.const_input(1))
    groups = node.attrs["group"]
    out_channels, per_group = weight.shape[:2]
    return weight.reshape(groups, out_channels // groups, per_group, -1).max(axis=(1, 3)).reshape(-1)


def _chain(stem_attrs: dict, dw_attrs: dict) -> Graph:
    """stem 3x3 conv -> depthwise 3x3 -> pointwise 1x1, the EfficientNet-Lite block start."""
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    stem = _unbalanced(b, x, 8, **stem_attrs)
    dw = _unbalanced(b, stem, 8, group=8, **dw_attrs)
    pw = b.conv(dw, 4, kernel=1)
    return b.output(pw)


def test_relu6_chain_is_exact_and_balanced():
    graph = _chain(RELU6, RELU6)
    records = run_and_compare(graph, "equalize", rtol=1e-4, atol=1e-4)

    assert records[0].rewrites == 2
    assert ops(graph) == ["Conv", "Min", "Conv", "Min", "Conv"]
    stem, bound, dw, _, pw = graph.nodes
    limits = bound.const_input(1)
    assert limits.shape == (1, 8, 1, 1) and np.ptp(limits) > 0
    assert stem.attrs["activation_attrs"] == {"min": 0.0, "max": float(limits.max())}
    r1 = np.abs(stem.const_input(1)).reshape(8, -1).max(axis=1)
    np.testing.assert_allclose(r1, _input_channel_ranges(dw), rtol=1e-3)
    r1 = np.abs(dw.const_input(1)).reshape(8, -1).max(axis=1)
    np.testing.assert_allclose(r1, _input_channel_ranges(pw), rtol=1e-3)


@pytest.mark.parametrize("activation", [{}, {"activation": Op.RELU, "activation_attrs": {}}])
def test_relu_and_linear_pairs_need_no_bound(activation):
    graph = _chain(activation, activation)
    assert run_and_compare(graph, "equalize", rtol=1e-4, atol=1e-4)[0].rewrites == 2
    assert ops(graph) == ["Conv", "Conv", "Conv"]


def test_skip_leaves_relu6_pairs_alone():
    graph = _chain(RELU6, {"activation": Op.RELU, "activation_attrs": {}})
    before = graph.nodes[0].const_input(1).copy()
    records = run_passes(graph, [make_spec("equalize", {"relu6": "skip"})])

    assert records[0].rewrites == 1
    assert ops(graph) == ["Conv", "Conv", "Conv"]
    np.testing.assert_array_equal(graph.nodes[0].const_input(1), before)
    assert graph.nodes[0].attrs["activation"] is Op.CLIP


def test_clip_with_a_nonzero_lower_bound_is_not_equalized():
    clip = {"activation": Op.CLIP, "activation_attrs": {"min": -1.0, "max": 6.0}}
    b = Builder()
    stem = _unbalanced(b, b.input("x", (1, 3, 8, 8)), 8, **clip)
    graph = b.output(b.conv(stem, 4, kernel=1))
    assert run_and_compare(graph, "equalize")[0].rewrites == 0


def test_an_output_with_two_uses_is_not_equalized():
    b = Builder()
    stem = _unbalanced(b, b.input("x", (1, 3, 8, 8)), 8)
    graph = b.output(b.conv(stem, 8), stem)
    assert run_and_compare(graph, "equalize")[0].rewrites == 0


def test_a_second_run_rescales_the_bounds_it_inserted():
    graph = _chain(RELU6, RELU6)
    run_passes(graph, [make_spec("equalize", {"iterations": 1})])
    assert ops(graph) == ["Conv", "Min", "Conv", "Min", "Conv"]
    run_and_compare(graph, "equalize", rtol=1e-4, atol=1e-4)
    assert ops(graph) == ["Conv", "Min", "Conv", "Min", "Conv"]


@pytest.mark.parametrize("options", [{"relu6": "clamp"}, {"iterations": 0}])
def test_bad_options_are_usage_errors(options):
    with pytest.raises(UsageError, match="equalize"):
        make_spec("equalize", options)


def _data(graph: Graph, count: int = 8) -> Dataset:
    rng = np.random.default_rng(1)
    return Dataset({"x": (rng.standard_normal((count, 1, 3, 8, 8)) * 3).astype(np.float32)}, "random")


def test_measured_ranges_equalize_the_activation_channels_of_a_depthwise_pair():
    graph = _chain(RELU6, RELU6)
    data = _data(graph)
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)
    before = conv_input_ranges(graph, data)

    assert equalize_graph(graph, EqualizeOptions(), before) == 2
    np.testing.assert_allclose(
        run_graph(graph, feeds)[graph.outputs[0].name], expected[graph.outputs[0].name], rtol=1e-4, atol=1e-4
    )
    dw = graph.nodes[2]
    after = conv_input_ranges(graph, data)[dw.name]
    assert np.ptp(before[dw.name]) > 1.0
    np.testing.assert_allclose(after, after.max(), rtol=1e-4)


def test_quantize_equalizes_when_asked():
    graph = _chain(RELU6, RELU6)
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)[graph.outputs[0].name]
    config = CalibrationConfig(method="minmax", equalize=True)
    result = quantize(graph, _data(graph), config=config, scheme=TFLITE_SCHEME)

    assert ops(graph) == ["Conv", "Min", "Conv", "Min", "Conv"]
    assert result.report()["calibration"]["equalize"] is True
    np.testing.assert_allclose(run_graph(graph, feeds)[graph.outputs[0].name], expected, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    ("flag", "expected"), [([], False), (["--equalize"], True), (["--no-equalize"], False)]
)
def test_the_equalize_flag_reaches_the_options(flag, expected):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(flag)
    args.seed = 0
    assert options_from_args(args).equalize is expected


def test_efficientnet_lite0_keeps_its_outputs(shared_models):
    graph = load_model(shared_models / "efficientnet_lite0.onnx", {})
    run_passes(graph, [make_spec("cleanup")])
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)
    records = run_passes(graph, [make_spec("equalize")])

    assert records[0].rewrites > 30
    assert len(graph.nodes_of(Op.MIN)) > 15
    got = run_graph(graph, feeds)
    np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-4, atol=1e-4)
