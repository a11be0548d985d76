"""prune: per-layer and global thresholds, the sensitivity scan, reconstruction on the digits CNN."""

from __future__ import annotations

import numpy as np
import pytest
from compression_models import digits_cnn, digits_graph, graph_accuracy, write_calibration
from helpers import Builder, random_feeds

from edgec.compression.accounting import agreement, layer_density
from edgec.compression.pass_inputs import calibration_feeds, run_all
from edgec.compression.prune_magnitude import (
    PruneOptions,
    allocation_fits,
    apply,
    output_error,
    removed,
    search,
    sensitivity_scan,
    target_allocation,
)
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
    run_passes(graph, [make_spec("prune", {"sparsity": 0.5, "mode": "global", "ranking": "magnitude"})])
    conv, gemm = weighted_layers(graph)
    kept = np.concatenate([np.abs(weight_matrix(n))[weight_matrix(n) != 0] for n in (conv, gemm)])
    assert layer_density(graph) == pytest.approx(0.5, abs=0.01)
    assert (weight_matrix(gemm) == 0).mean() > (weight_matrix(conv) == 0).mean()
    assert kept.min() > 0


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="mode must be one of"):
        run_passes(_conv_gemm(), [make_spec("prune", {"mode": "magic"})])
    with pytest.raises(UsageError, match="ranking must be one of"):
        run_passes(_conv_gemm(), [make_spec("prune", {"mode": "global", "ranking": "random"})])


def test_the_target_allocation_removes_exactly_the_target_share_cheapest_steps_first():
    grid = (0.3, 0.5, 0.8)
    curves = {
        "cheap": dict(zip(grid, (0.001, 0.002, 0.01), strict=True)),
        "dear": dict(zip(grid, (0.1, 0.3, 0.9), strict=True)),
    }
    sizes = {"cheap": 1000, "dear": 3000}
    for target in (0.1, 0.35, 0.5):
        allocation = target_allocation(curves, sizes, target)
        assert removed(allocation, sizes) == pytest.approx(target * 4000)
        assert allocation["cheap"] >= allocation["dear"]
    assert target_allocation(curves, sizes, 0.1) == {"cheap": pytest.approx(0.4), "dear": 0.0}
    assert target_allocation(curves, sizes, 0.35) == {"cheap": 0.8, "dear": pytest.approx(0.2)}
    assert target_allocation(curves, sizes, 0.95) == {"cheap": 0.8, "dear": 0.8}  # the grid's sparsest


def _sensitive_chain():
    """x -> A -> B: A's weights are small and all matter; B's are large, three quarters nearly idle."""
    b = Builder()
    x = b.input("x", (1, 32))
    out = b.output(b.gemm(b.gemm(x, 32, bias=False), 32, bias=False))
    a, bb = (node.inputs[1] for node in out.nodes)
    a.data = (0.01 * a.data).astype(np.float32)
    idle = np.random.default_rng(5).random(bb.data.shape) < 0.75
    bb.data = np.where(idle, 0.05 * bb.data, bb.data).astype(np.float32)
    return out


@pytest.mark.parametrize(("ranking", "reconstruct"), [("sensitivity", False), ("sensitivity", True)])
def test_data_ranked_global_mode_spares_the_sensitive_layer_at_the_target(ranking, reconstruct):
    options = {
        "sparsity": 0.5,
        "mode": "global",
        "samples": 128,
        "ranking": ranking,
        "reconstruct": reconstruct,
    }
    ranked, by_magnitude = _sensitive_chain(), _sensitive_chain()
    run_passes(ranked, [make_spec("prune", options)])
    run_passes(by_magnitude, [make_spec("prune", {**options, "ranking": "magnitude", "reconstruct": False})])
    assert layer_density(ranked) == pytest.approx(0.5, abs=1 / 2048)
    a, b = ((weight_matrix(n) == 0).mean() for n in weighted_layers(ranked))
    assert b > 2 * a
    assert (weight_matrix(weighted_layers(by_magnitude)[0]) == 0).mean() > 0.8  # magnitude all but empties A
    feeds = [random_feeds(ranked, seed) for seed in range(100, 116)]  # samples no pass saw
    reference = run_all(_sensitive_chain(), feeds)
    ranked_error = output_error(reference, run_all(ranked, feeds))
    assert ranked_error < 0.05
    assert output_error(reference, run_all(by_magnitude, feeds)) > 10 * ranked_error


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


def test_the_search_gives_up_at_once_when_the_samples_cannot_hold_the_budget(tmp_path, monkeypatch):
    digits = digits_cnn()
    calibration = str(write_calibration(digits, tmp_path / "calib.npz", 64))
    data = {"calibration": calibration, "samples": 64, "reconstruct": True}
    options = PruneOptions(sparsity=0.9, mode="sensitivity", budget="top1=2", **data)
    graph = digits_graph()
    feeds = calibration_feeds(graph, options)  # 16 of them held out: a top-1 bound of some 15 points

    def no_scan(*_args: object) -> None:
        raise AssertionError("the scan ran although no allocation could fit")

    monkeypatch.setattr("edgec.compression.prune_magnitude.sensitivity_scan", no_scan)
    assert search(graph, feeds, options) == ([{}], 0)


def test_with_reconstruction_the_scan_prunes_each_layer_by_sparsegpt():
    graph = _sensitive_chain()
    feeds = [random_feeds(graph, seed) for seed in range(100)]
    second_order = sensitivity_scan(graph, feeds, 0.8, second_order=True)
    assert all(second_order[name] != curve for name, curve in sensitivity_scan(graph, feeds, 0.8).items())
