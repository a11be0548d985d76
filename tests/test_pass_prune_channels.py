"""prune-channels: channel groups through BatchNorm, depthwise convs, concatenations and residual adds."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.compression.accounting import total_macs, weight_bytes
from edgec.compression.channel_groups import analyze
from edgec.frontend import load_model
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph

DEAD = [2, 5]  # output channels whose weights and bias are zero: the least important ones


def _kill(b: Builder, value, channels=DEAD):
    """Zero the weights and bias of output ``channels`` of the Conv producing ``value``."""
    node = value.producer
    for index in (1, 2):
        node.inputs[index].data[channels] = 0
    return value


def _block_graph():
    """conv -> relu -> depthwise -> conv, a residual add of two convs, a concat, GAP -> flatten -> gemm."""
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    a = b.node(Op.RELU, [_kill(b, b.conv(x, 8))], name="relu_a")
    dw = b.conv(a, 8, group=8)
    dw.producer.inputs[2].data[DEAD] = 0  # the depthwise bias of dead channels: relu(0 + 0) = 0 downstream
    left = _kill(b, b.conv(b.node(Op.RELU, [dw], name="relu_dw"), 8, kernel=1))
    right = _kill(b, b.conv(x, 8, kernel=1))
    added = b.node(Op.ADD, [left, right], name="residual")
    c1, c2 = _kill(b, b.conv(added, 4), [1]), _kill(b, b.conv(added, 4), [3])
    cat = b.node(Op.CONCAT, [c1, c2], shape=(1, 8, 8, 8), name="cat", axis=1)
    pooled = b.node(Op.GLOBAL_AVERAGE_POOL, [_kill(b, b.conv(cat, 6), [0])], shape=(1, 6, 1, 1), name="gap")
    flat = b.node(Op.FLATTEN, [pooled], shape=(1, 6), name="flat", axis=1)
    return b.output(b.gemm(flat, 5))


def test_dead_channels_go_and_outputs_stay_exactly_the_same():
    graph = _block_graph()
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)
    (record,) = run_passes(
        graph, [make_spec("prune-channels", {"ratio": 0.25, "residual": True, "multiple": 1})]
    )
    got = run_graph(graph, feeds)
    np.testing.assert_allclose(
        got[graph.outputs[0].name], expected[graph.outputs[0].name], rtol=1e-5, atol=1e-5
    )
    assert (
        record.rewrites == 5
    )  # conv_a+depthwise, the residual pair, the two concat members, the conv before GAP
    shapes = {n.name: n.output.shape[1] for n in graph.nodes}
    assert shapes["relu_a"] == 6 and shapes["residual"] == 6 and shapes["cat"] == 6
    depthwise = next(n for n in graph.nodes if n.op is Op.CONV and n.attrs["group"] > 1)
    assert depthwise.attrs["group"] == 6 and depthwise.inputs[1].shape == (6, 1, 3, 3)
    assert shapes["gap"] == 5 and graph.nodes[-1].inputs[1].shape == (5, 5)
    assert graph.outputs[0].shape == (1, 5)


def test_residual_members_share_one_group_and_graph_outputs_are_frozen():
    graph = _block_graph()
    spaces = analyze(graph)
    residual = spaces.segments["residual"]
    members = [spaces.find(s) for s, _ in residual]
    assert len(spaces.producers[members[0]]) == 2
    assert [n for _, n in spaces.segments["cat"]] == [4, 4]
    assert spaces.is_frozen(spaces.segments[graph.outputs[0].name][0][0])


def test_residual_groups_stay_unless_asked_for():
    graph = _block_graph()
    (record,) = run_passes(graph, [make_spec("prune-channels", {"ratio": 0.25, "multiple": 1})])
    assert record.rewrites == 4
    assert graph.values["residual"].shape[1] == 8 and graph.values["relu_a"].shape[1] == 6


def test_batchnorm_before_folding_loses_the_same_channels():
    b = Builder()
    x = b.input("x", (1, 3, 6, 6))
    bn = b.batchnorm(b.conv(x, 8))
    graph = b.output(b.conv(b.node(Op.RELU, [bn], name="act"), 4))
    run_passes(graph, [make_spec("prune-channels", {"ratio": 0.5, "multiple": 1})])
    node = graph.nodes[1]
    assert node.op is Op.BATCH_NORMALIZATION
    assert all(v.shape == (4,) for v in node.inputs[1:])
    assert run_graph(graph, random_feeds(graph))[graph.outputs[0].name].shape == (1, 4, 6, 6)


def test_bad_ratio_is_a_usage_error():
    from edgec.errors import UsageError

    with pytest.raises(UsageError, match="ratio"):
        run_passes(_block_graph(), [make_spec("prune-channels", {"ratio": 1.5})])


def test_efficientnet_lite0_gets_smaller_and_cheaper(shared_models):
    graph = load_model(shared_models / "efficientnet_lite0.onnx", {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup")])
    original = copy.deepcopy(graph)
    inner = copy.deepcopy(graph)
    (record,) = run_passes(inner, [make_spec("prune-channels", {"ratio": 0.3})])
    assert record.rewrites == 18  # the channel groups outside the residual adds that 8-rounding shrinks
    (record,) = run_passes(graph, [make_spec("prune-channels", {"ratio": 0.3, "residual": True})])
    assert record.rewrites == 22
    changed = [
        n
        for n in graph.nodes
        if n.op is Op.CONV and n.output.shape[1] != original.node_by_name(n.name).output.shape[1]
    ]
    assert changed and all(n.output.shape[1] % 8 == 0 for n in changed)
    assert total_macs(graph) < total_macs(inner) < 0.8 * total_macs(original)
    assert weight_bytes(graph) < weight_bytes(inner) < 0.8 * weight_bytes(original)
    feeds = random_feeds(graph)
    assert run_graph(graph, feeds)["logits"].shape == run_graph(inner, feeds)["logits"].shape == (1, 1000)


def _chain():
    """conv -> relu -> conv -> relu -> conv: the middle conv loses input and output channels."""
    b = Builder()
    x = b.input("x", (1, 4, 8, 8))
    h = b.node(Op.RELU, [b.conv(x, 16)], name="relu1")
    h = b.node(Op.RELU, [b.conv(h, 16)], name="relu2")
    return b.output(b.conv(h, 6, kernel=1))


def test_the_refit_of_a_layer_that_lost_inputs_and_outputs_cuts_the_held_out_error(tmp_path):
    reference = _chain()
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=np.stack([random_feeds(reference, seed)["x"] for seed in range(32)]))
    options = {"ratio": 0.25, "multiple": 1, "calibration": str(calibration), "samples": 32}
    plain, refit = _chain(), _chain()
    run_passes(plain, [make_spec("prune-channels", options)])
    run_passes(refit, [make_spec("prune-channels", {**options, "reconstruct": True})])
    assert refit.nodes[2].output.shape[1] == 12  # the middle conv lost 4 output channels, and 4 inputs

    def error(graph):
        feeds = [random_feeds(graph, seed) for seed in range(100, 108)]
        name = graph.outputs[0].name
        return sum(
            float(np.sum((run_graph(graph, f)[name] - run_graph(reference, f)[name]) ** 2)) for f in feeds
        )

    assert error(refit) < 0.8 * error(plain)


def _redundant():
    """conv (8 channels: 0-3 smaller but each its own, 6-7 copies of 4-5) -> relu -> 1x1 conv."""
    b = Builder()
    x = b.input("x", (1, 4, 6, 6))
    h = b.conv(x, 8)
    weight, bias = h.producer.inputs[1].data, h.producer.inputs[2].data
    weight[:4] *= 0.5
    bias[:4] *= 0.5
    weight[6:], bias[6:] = weight[4:6], bias[4:6]
    return b.output(b.conv(b.node(Op.RELU, [h], name="act"), 6, kernel=1))


def _calibrated(tmp_path, graph, samples=32):
    path = tmp_path / "calib.npz"
    np.savez(path, x=np.stack([random_feeds(graph, seed)["x"] for seed in range(samples)]))
    return {"calibration": str(path), "samples": samples, "multiple": 1}


def _held_out_error(graph, reference):
    feeds = [random_feeds(graph, seed) for seed in range(100, 108)]
    name = graph.outputs[0].name
    return sum(float(np.sum((run_graph(graph, f)[name] - run_graph(reference, f)[name]) ** 2)) for f in feeds)


def test_the_obs_choice_removes_redundant_channels_that_the_weight_norms_keep(tmp_path):
    reference = _redundant()
    data = _calibrated(tmp_path, reference)
    by_norm, by_error = _redundant(), _redundant()
    run_passes(by_norm, [make_spec("prune-channels", {"ratio": 0.25, "reconstruct": True, **data})])
    run_passes(by_error, [make_spec("prune-channels", {"ratio": 0.25, "criterion": "obs", **data})])
    assert by_norm.values["act"].shape[1] == by_error.values["act"].shape[1] == 6
    assert _held_out_error(by_error, reference) < 0.05 * _held_out_error(by_norm, reference)


def test_the_obs_choice_keeps_a_graph_it_does_not_shrink_and_drops_dead_channels_exactly(tmp_path):
    graph = _block_graph()
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)[graph.outputs[0].name]
    data = {**_calibrated(tmp_path, graph), "criterion": "obs", "residual": True}
    (record,) = run_passes(graph, [make_spec("prune-channels", {**data, "ratio": 0.1, "multiple": 8})])
    assert record.rewrites == 0 and graph.values["relu_a"].shape[1] == 8
    np.testing.assert_array_equal(run_graph(graph, feeds)[graph.outputs[0].name], expected)
    (record,) = run_passes(graph, [make_spec("prune-channels", {**data, "ratio": 0.25})])
    assert record.rewrites == 5 and graph.values["relu_a"].shape[1] == 6
    np.testing.assert_allclose(run_graph(graph, feeds)[graph.outputs[0].name], expected, rtol=1e-4, atol=1e-4)
