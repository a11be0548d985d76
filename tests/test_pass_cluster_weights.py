"""cluster: per-layer k-means codebooks, zeros kept, linear and density initialization."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.compression.accounting import codebook_sizes
from edgec.compression.cluster_weights import kmeans_1d
from edgec.errors import UsageError
from edgec.ir import Op
from edgec.ir.weight_matrices import weight_matrix, weighted_layers
from edgec.passes import make_spec, run_passes
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


def _folded_graph():
    """A conv whose output channels differ in scale by orders of magnitude, as after folding batch norms,
    then a depthwise 5x5 conv (25 weights per channel)."""
    b = Builder()
    x = b.input("x", (1, 8, 8, 8))
    y = b.node(Op.RELU, [b.conv(x, 16)])
    graph = b.output(b.conv(y, 16, kernel=5, group=16))
    conv = weighted_layers(graph)[0]
    scales = np.exp(np.random.default_rng(4).normal(0, 2, (16, 1, 1, 1))).astype(np.float32)
    conv.inputs[1].data = conv.inputs[1].data * scales
    return graph


def _smooth_input(seed: int) -> dict[str, np.ndarray]:
    """Spatially and across channels correlated, as natural images and their features are."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(1, 1, 4, 4)) + 0.5 * rng.normal(size=(1, 8, 4, 4))
    return {"x": (np.kron(coarse, np.ones((2, 2))) + 0.1 * rng.normal(size=(1, 8, 8, 8))).astype(np.float32)}


def _held_out_error(graph, reference) -> float:
    feeds = [_smooth_input(seed) for seed in range(100, 116)]
    name = graph.outputs[0].name
    got = np.stack([run_graph(graph, f)[name] for f in feeds])
    expected = np.stack([run_graph(reference, f)[name] for f in feeds])
    return float(np.sum((got - expected) ** 2) / np.sum(expected**2))


def test_channel_codebooks_with_gptq_assignment_beat_nearest_centroid_on_held_out_inputs(tmp_path):
    reference = _folded_graph()
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=np.stack([_smooth_input(seed)["x"] for seed in range(32)]))
    data = {"calibration": str(calibration), "samples": 32}
    errors = {}
    for label, options in {
        "layer": {"clusters": 8},
        "channel": {"clusters": 8, "codebook": "channel"},
        "channel+gptq": {"clusters": 8, "codebook": "channel", "reconstruct": True, **data},
    }.items():
        graph = _folded_graph()
        run_passes(graph, [make_spec("cluster", options)])
        sizes = [max(np.unique(row).size for row in weight_matrix(n)) for n in weighted_layers(graph)]
        assert max(sizes) <= 8 + (label == "layer")  # a layer codebook may keep zero besides its 8 values
        errors[label] = _held_out_error(graph, reference)
    assert errors["channel"] < 0.5 * errors["layer"]
    assert errors["channel+gptq"] < 0.8 * errors["channel"]
