"""prune: per-layer and global thresholds, the sensitivity scan, reconstruction on the digits CNN."""

from __future__ import annotations

import numpy as np
import pytest
from compression_models import digits_cnn, digits_graph, graph_accuracy, write_calibration
from helpers import Builder, random_feeds

from edgec.compression.accounting import agreement, layer_density
from edgec.compression.pass_inputs import calibration_feeds, run_all
from edgec.compression.prune_magnitude import PruneOptions, allocation_fits, apply, search
from edgec.errors import UsageError
from edgec.ir import Op
from edgec.ir.weight_matrices import weight_matrix, weighted_layers
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def _conv_gemm():
    b = Builder()
    x = b.input("x", (1, 4, 6, 6))
    y = b.node(Op.RELU, [b.conv(x, 16)])
    flat = b.node(
        Op.FLATTEN, [b.node(Op.GLOBAL_AVERAGE_POOL, [y], shape=(1, 16, 1, 1))], shape=(1, 16), axis=1
    )
    return b.output(b.gemm(flat, 10))


def test_layer_mode_zeroes_the_smallest_fraction_of_each_layer():
    graph = _conv_gemm()
    before = {n.name: np.abs(weight_matrix(n)) for n in weighted_layers(graph)}
    (record,) = run_passes(graph, [make_spec("prune", {"sparsity": 0.75})])
    assert record.rewrites == 2
    for node in weighted_layers(graph):
        pruned = weight_matrix(node) == 0
        assert pruned.mean() == pytest.approx(0.75, abs=0.01)
        assert before[node.name][~pruned].min() >= before[node.name][pruned].max()
    assert run_graph(graph, random_feeds(graph))[graph.outputs[0].name].shape == (1, 10)


def test_global_mode_uses_one_threshold_over_all_layers():
    graph = _conv_gemm()
    graph.nodes[0].inputs[1].data *= 10  # the conv's weights are all large: the gemm loses more
    run_passes(graph, [make_spec("prune", {"sparsity": 0.5, "mode": "global"})])
    conv, gemm = weighted_layers(graph)
    kept = np.concatenate([np.abs(weight_matrix(n))[weight_matrix(n) != 0] for n in (conv, gemm)])
    assert layer_density(graph) == pytest.approx(0.5, abs=0.01)
    assert (weight_matrix(gemm) == 0).mean() > (weight_matrix(conv) == 0).mean()
    assert kept.min() > 0


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="mode must be one of"):
        run_passes(_conv_gemm(), [make_spec("prune", {"mode": "magic"})])


def test_sensitivity_mode_prunes_the_big_layer_most_within_the_budget(tmp_path):
    digits = digits_cnn()
    calibration = write_calibration(digits, tmp_path / "calib.npz", 1024)
    graph = digits_graph()
    options = {"mode": "sensitivity", "sparsity": 0.95, "budget": "top1=2", "calibration": str(calibration)}
    run_passes(graph, [make_spec("prune", {**options, "samples": 1024})])
    sparsity = {n.name: float((weight_matrix(n) == 0).mean()) for n in weighted_layers(graph)}
    assert sparsity["fc1"] >= 0.8 > sparsity["conv1"]
    assert layer_density(graph) < 0.35
    assert graph_accuracy(graph, digits) >= graph_accuracy(digits_graph(), digits) - 0.02


def test_reconstruction_beats_plain_magnitude_pruning_at_the_same_sparsity(tmp_path):
    digits = digits_cnn()
    calibration = write_calibration(digits, tmp_path / "calib.npz")
    plain, refit = digits_graph(), digits_graph()
    run_passes(plain, [make_spec("prune", {"sparsity": 0.8})])
    options = {"sparsity": 0.8, "reconstruct": True, "calibration": str(calibration), "samples": 256}
    run_passes(refit, [make_spec("prune", options)])
    assert layer_density(refit) == pytest.approx(0.2, abs=0.005)  # per output channel, rounded per row
    assert layer_density(plain) == pytest.approx(0.2, abs=0.005)
    plain_accuracy, refit_accuracy = graph_accuracy(plain, digits), graph_accuracy(refit, digits)
    assert refit_accuracy > plain_accuracy + 0.1
    assert refit_accuracy >= graph_accuracy(digits_graph(), digits) - 0.03


def test_the_sensitivity_search_stops_at_the_sparsest_allocation_within_the_budget(tmp_path):
    digits = digits_cnn()
    calibration = str(write_calibration(digits, tmp_path / "calib.npz", 1024))
    graph = digits_graph()
    options = PruneOptions(
        sparsity=0.95, mode="sensitivity", budget="top1=2", calibration=calibration, samples=1024
    )
    feeds = calibration_feeds(graph, options)
    allocations, index = search(graph, feeds, options)
    assert 0 < index < len(allocations) - 1
    assert allocation_fits(graph, allocations[index], feeds, options)
    assert not allocation_fits(graph, allocations[index + 1], feeds, options)  # one step sparser misses it
    pruned = digits_graph()
    apply(pruned, allocations[index], feeds, options)
    assert layer_density(pruned) < 0.3
    reference, test = (
        run_all(digits_graph(), digits.feeds(digits.x_test)),
        run_all(pruned, digits.feeds(digits.x_test)),
    )
    assert agreement(reference, test) >= 0.98  # the test split chose nothing and holds the budget
