"""Reconstruction: pruned layers refitted to the uncompressed graph's outputs, chosen on held-out samples."""

from __future__ import annotations

import copy

import numpy as np
from helpers import Builder, random_feeds

from edgec.compression.reconstruction import reconstruct
from edgec.ir import Op
from edgec.ir.weight_matrices import layer_outputs, layer_patches, weight_matrix, weighted_layers
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def _graph():
    b = Builder()
    x = b.input("x", (1, 4, 6, 6))
    y = b.node(Op.RELU, [b.conv(x, 8)], name="act")
    z = b.conv(y, 8, group=8)  # depthwise: refitted per group
    pooled = b.node(Op.GLOBAL_AVERAGE_POOL, [z], shape=(1, 8, 1, 1), name="gap")
    return b.output(b.gemm(b.node(Op.FLATTEN, [pooled], shape=(1, 8), axis=1), 6))


def test_patches_times_weights_is_the_conv():
    graph = _graph()
    feeds = random_feeds(graph)
    conv = graph.nodes[0]
    outputs = run_graph(graph, feeds, extra_outputs=["act"])
    patches = layer_patches(conv, feeds["x"])
    pre = layer_outputs(conv, patches, weight_matrix(conv), conv.const_input(2))
    expected = np.maximum(pre, 0).reshape(6, 6, 8).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(outputs["act"], expected, rtol=1e-4, atol=1e-4)


def test_refit_keeps_the_zeros_and_cuts_the_output_error():
    graph = _graph()
    reference = copy.deepcopy(graph)
    feeds = [random_feeds(graph, seed) for seed in range(64)]
    run_passes(graph, [make_spec("prune", {"sparsity": 0.6})])
    masks = {n.name: weight_matrix(n) == 0 for n in weighted_layers(graph)}
    test = random_feeds(graph, 99)
    name = graph.outputs[0].name
    expected = run_graph(reference, test)[name]
    plain_error = np.abs(run_graph(graph, test)[name] - expected).mean()
    records = reconstruct(graph, reference, feeds)
    assert [r.name for r in records] == [n.name for n in weighted_layers(graph)]
    assert all(r.held_error <= r.plain_held_error for r in records)
    assert any(r.choice.startswith("refit") for r in records)
    for node in weighted_layers(graph):
        assert np.all(weight_matrix(node)[masks[node.name]] == 0)
    refit_error = np.abs(run_graph(graph, test)[name] - expected).mean()
    assert refit_error < 0.6 * plain_error


def test_a_gemm_with_fewer_samples_than_inputs_keeps_its_weights():
    b = Builder()
    x = b.input("x", (1, 32))
    graph = b.output(b.gemm(x, 4))
    reference = copy.deepcopy(graph)
    run_passes(graph, [make_spec("prune", {"sparsity": 0.5})])
    before = weight_matrix(graph.nodes[0]).copy()
    (record,) = reconstruct(graph, reference, [random_feeds(graph, seed) for seed in range(64)])
    assert record.choice == "plain (too few samples)"  # 48 fitting samples for 32 inputs: below 2 per input
    np.testing.assert_array_equal(weight_matrix(graph.nodes[0]), before)


def _skewed_feeds(count: int) -> list[dict[str, np.ndarray]]:
    """Fitting samples on a 2-D subspace of the 16 inputs, every 4th (the held-out share) isotropic."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 16))
    feeds = []
    for i in range(count):
        x = rng.normal(size=(1, 16)) if i % 4 == 3 else rng.normal(size=(1, 2)) @ basis
        feeds.append({"x": (x + 0.01 * rng.normal(size=(1, 16))).astype(np.float32)})
    return feeds


def _pruned_gemm():
    b = Builder()
    graph = b.output(b.gemm(b.input("x", (1, 16)), 4))
    reference = copy.deepcopy(graph)
    run_passes(graph, [make_spec("prune", {"sparsity": 0.5})])
    return graph, reference


def test_a_refit_that_fits_calibration_but_not_held_out_samples_is_rolled_back():
    graph, reference = _pruned_gemm()
    pruned = weight_matrix(graph.nodes[0]).copy()
    (record,) = reconstruct(graph, reference, _skewed_feeds(256))
    assert record.choice == "plain"
    np.testing.assert_array_equal(weight_matrix(graph.nodes[0]), pruned)
    mixing = np.random.default_rng(1).normal(size=(16, 16))
    same = [
        {"x": (np.random.default_rng(i).normal(size=(1, 16)) @ mixing).astype(np.float32)} for i in range(256)
    ]
    graph, reference = _pruned_gemm()
    (record,) = reconstruct(graph, reference, same)  # correlated inputs, all alike: the refit stays
    assert record.choice.startswith("refit") and record.held_error < 0.7 * record.plain_held_error
