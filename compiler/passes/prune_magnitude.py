"""``prune``: unstructured magnitude pruning of Conv, Gemm and MatMul weights.

Modes: ``layer`` zeroes the smallest ``sparsity`` fraction of each layer,
``global`` one threshold over all layers' magnitudes, ``sensitivity`` scans
each layer alone over a grid of sparsities (metric vs sparsity, as Han et
al. do), then picks per-layer sparsities (at most ``sparsity`` each) under
the accuracy ``budget`` for the whole model (``--max-accuracy-drop``'s
METRIC=VALUE budgets, measured against the graph before pruning), ``2of4``
keeps the 2 largest of every 4 consecutive input channels of each layer
that has 4 or more (NVIDIA's 2:4 structured sparsity, ``sparsity`` 0.5;
edgec.compression.sparsity). With ``reconstruct`` the
surviving weights are refitted on calibration data to reproduce each
layer's original outputs (edgec.compression.reconstruction).

Zeros alone buy nothing on dense runtimes: the gain is storage once the
weights are compressed (clustering and Huffman coding), or speed where a
runtime has sparse kernels (TensorRT's 2:4 sparsity on Ampere and newer).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgec.compression.accounting import evaluate
from edgec.compression.budget import parse_budgets, within
from edgec.compression.calibration import Outputs, calibration_feeds, run_all
from edgec.compression.layers import set_weight_matrix, weight_matrix, weighted_layers
from edgec.compression.reconstruction import reconstruct
from edgec.compression.sparsity import has_2of4_shape, mask_2of4
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Node
from edgec.passes.manager import register
from edgec.runtime import Feeds

MODES = ("layer", "global", "sensitivity", "2of4")
SCAN_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True)
class PruneOptions:
    sparsity: float = field(
        default=0.5,
        metadata={"help": "fraction of weights set to zero (the per-layer cap in sensitivity mode)"},
    )
    mode: str = field(default="layer", metadata={"help": "layer | global | sensitivity | 2of4"})
    budget: str = field(
        default="top1=1",
        metadata={
            "help": "sensitivity mode: METRIC=VALUE budgets, comma-separated, as --max-accuracy-drop "
            "(top1, top5, cosine, snr; accuracy= is held as top1=, its bound without labels)"
        },
    )
    reconstruct: bool = field(
        default=False, metadata={"help": "refit the remaining weights on calibration data"}
    )
    calibration: str = field(default="", metadata={"help": ".npz of inputs by name (default: random inputs)"})
    samples: int = field(default=8, metadata={"help": "calibration samples used"})
    seed: int = field(default=0, metadata={"help": "seed of random calibration inputs"})


def magnitude_mask(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """True for the weights kept: all but the ``sparsity`` fraction of smallest magnitude."""
    drop = round(sparsity * weight.size)
    if drop <= 0:
        return np.ones(weight.shape, dtype=bool)
    order = np.argsort(np.abs(weight), axis=None, kind="stable")
    mask = np.ones(weight.size, dtype=bool)
    mask[order[:drop]] = False
    return mask.reshape(weight.shape)


def prune_layers(graph: Graph, sparsities: dict[str, float]) -> None:
    """Zero the smallest weights of each named layer to its sparsity."""
    for node in weighted_layers(graph):
        if sparsities.get(node.name, 0.0) > 0:
            matrix = weight_matrix(node)
            set_weight_matrix(graph, node, matrix * magnitude_mask(matrix, sparsities[node.name]))


def global_sparsities(layers: Sequence[Node], sparsity: float) -> dict[str, float]:
    """Per-layer sparsities that one magnitude threshold over all layers gives."""
    magnitudes = np.concatenate([np.abs(weight_matrix(node)).ravel() for node in layers])
    threshold = np.quantile(magnitudes, sparsity) if magnitudes.size else 0.0
    return {node.name: float(np.mean(np.abs(weight_matrix(node)) <= threshold)) for node in layers}


def sensitivity_scan(
    graph: Graph, feeds: Sequence[Feeds], reference: Outputs
) -> dict[str, dict[float, float]]:
    """Layer name -> {sparsity: metric with only that layer pruned}."""
    curves: dict[str, dict[float, float]] = {}
    for node in weighted_layers(graph):
        original = weight_matrix(node)
        curves[node.name] = {}
        for sparsity in SCAN_GRID:
            prune_layers(graph, {node.name: sparsity})
            curves[node.name][sparsity] = evaluate(graph, feeds, reference)
            set_weight_matrix(graph, node, original)
    return curves


def choose_sparsities(
    graph: Graph, feeds: Sequence[Feeds], reference: Outputs, budget: str, cap: float
) -> dict[str, float]:
    """Sensitivity mode: greedily raise the layer whose next grid step costs least metric per weight removed.

    Costs come from the per-layer scan; each step is kept only if the model
    pruned to all chosen sparsities together stays within ``budget``.
    """
    baseline = evaluate(graph, feeds, reference)
    budgets = parse_budgets(budget)
    curves = sensitivity_scan(graph, feeds, reference)
    sizes = {node.name: node.const_input(1).size for node in weighted_layers(graph)}
    chosen = {name: 0.0 for name in curves}
    open_layers = set(curves)
    while open_layers:

        def cost(name: str) -> tuple[float, float]:
            step = min(s for s in curves[name] if s > chosen[name])
            removed = (step - chosen[name]) * sizes[name]
            return max(baseline - curves[name][step], 0.0) / removed, -removed

        name = min(sorted(open_layers), key=cost)
        step = min(s for s in curves[name] if s > chosen[name])
        trial = copy.deepcopy(graph)
        prune_layers(trial, {**chosen, name: step})
        if step > cap or not within(budgets, reference, run_all(trial, feeds)):
            open_layers.discard(name)
            continue
        chosen[name] = step
        if step == max(curves[name]):
            open_layers.discard(name)
    return chosen


def _check(options: PruneOptions) -> None:
    if options.mode not in MODES:
        raise UsageError(f"pass 'prune': mode must be one of {', '.join(MODES)}, got '{options.mode}'")
    if not 0.0 <= options.sparsity < 1.0:
        raise UsageError(f"pass 'prune': sparsity must be in [0, 1), got {options.sparsity}")
    if options.mode == "2of4" and options.sparsity != 0.5:
        raise UsageError(
            f"pass 'prune': mode 2of4 keeps 2 of every 4 weights, so sparsity must be 0.5, "
            f"got {options.sparsity}"
        )
    parse_budgets(options.budget)


@register("prune", PruneOptions)
def prune_magnitude(graph: Graph, options: PruneOptions) -> int:
    """Zero the smallest-magnitude weights of Conv/Gemm/MatMul layers; returns the layers pruned."""
    _check(options)
    layers = weighted_layers(graph)
    needs_data = options.mode == "sensitivity" or options.reconstruct
    feeds = calibration_feeds(graph, options.calibration, options.samples, options.seed) if needs_data else []
    reference_graph = copy.deepcopy(graph) if options.reconstruct else None
    if options.mode == "layer":
        sparsities = {node.name: options.sparsity for node in layers}
    elif options.mode == "global":
        sparsities = global_sparsities(layers, options.sparsity)
    elif options.mode == "2of4":
        sparsities = {node.name: 0.5 for node in layers if has_2of4_shape(node)}
    else:
        reference = run_all(graph, feeds)
        sparsities = choose_sparsities(graph, feeds, reference, options.budget, options.sparsity)
    if options.mode == "2of4":
        for node in layers:
            if node.name in sparsities:
                set_weight_matrix(graph, node, weight_matrix(node) * mask_2of4(node))
    else:
        prune_layers(graph, sparsities)
    pruned = [name for name, sparsity in sparsities.items() if sparsity > 0]
    if reference_graph is not None and pruned:
        reconstruct(graph, reference_graph, feeds, pruned)
    return len(pruned)
