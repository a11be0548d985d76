"""cluster: per-layer k-means codebooks, zeros kept, linear and density initialization."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.compression.accounting import codebook_sizes
from edgec.compression.layers import weight_matrix, weighted_layers
from edgec.errors import UsageError
from edgec.ir import Op
from edgec.passes import make_spec, run_passes
from edgec.passes.cluster_weights import kmeans_1d
from edgec.runtime import run_graph


def _graph():
    b = Builder()
    x = b.input("x", (1, 8, 6, 6))
    y = b.node(Op.RELU, [b.conv(x, 16)])
    flat = b.node(
        Op.FLATTEN, [b.node(Op.GLOBAL_AVERAGE_POOL, [y], shape=(1, 16, 1, 1))], shape=(1, 16), axis=1
    )
    return b.output(b.gemm(flat, 10, trans_b=1, alpha=0.5))


@pytest.mark.parametrize("init", ["linear", "density"])
def test_each_layer_takes_at_most_k_values_and_stays_close(init):
    graph = _graph()
    feeds = random_feeds(graph)
    expected = run_graph(graph, feeds)[graph.outputs[0].name]
    before = [weight_matrix(n) for n in weighted_layers(graph)]
    (record,) = run_passes(graph, [make_spec("cluster", {"clusters": 16, "init": init})])
    assert record.rewrites == 2
    sizes = codebook_sizes(graph)
    assert (
        set(sizes) == {n.name for n in weighted_layers(graph)}
        and 12 <= min(sizes.values()) <= max(sizes.values()) <= 16
    )
    for node, original in zip(weighted_layers(graph), before, strict=True):
        error = np.abs(weight_matrix(node) - original)
        assert error.mean() < 0.15 * original.std()
        if init == "linear":  # evenly spaced centroids keep the rare large weights (Han et al.)
            assert error.max() < 0.25 * np.abs(original).max()
    got = run_graph(graph, feeds)[graph.outputs[0].name]
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99


def test_pruned_zeros_stay_zero_and_outside_the_codebook():
    graph = _graph()
    run_passes(graph, [make_spec("prune", {"sparsity": 0.5}), make_spec("cluster", {"clusters": 4})])
    for node in weighted_layers(graph):
        matrix = weight_matrix(node)
        assert (matrix == 0).mean() == pytest.approx(0.5, abs=0.01)
        assert len(np.unique(matrix[matrix != 0])) == 4
    assert set(codebook_sizes(graph).values()) == {5}


def test_kmeans_finds_well_separated_clusters():
    values = np.concatenate([np.full(50, -1.0), np.full(30, 0.2), np.full(20, 3.0)])
    centroids, labels = kmeans_1d(values, 3, "density", 20)
    np.testing.assert_allclose(centroids, [-1.0, 0.2, 3.0])
    np.testing.assert_allclose(centroids[labels], values)


def test_bad_init_is_a_usage_error():
    with pytest.raises(UsageError, match="init must be one of"):
        run_passes(_graph(), [make_spec("cluster", {"init": "random"})])
