"""``prune``: unstructured pruning of Conv, Gemm and MatMul weights, magnitude or second-order.

Modes: ``layer`` prunes each layer to ``sparsity``; ``global`` prunes
``sparsity`` of all the weights, at the per-layer sparsities that one
threshold over all layers gives, by ``ranking``: ``sensitivity``, the
output error each layer's next step of sparsity adds per weight it removes
(the scan and step order below, followed until the overall target is
reached, the last step stopped partway; the scan prunes each layer by
SparseGPT with ``reconstruct``, else by magnitude), or ``magnitude``
(data-free); ``sensitivity`` scans each layer alone over a
grid of sparsities (output error vs sparsity, as Han et al. do, magnitude
pruned) to order the steps, then searches that order for the sparsest
model (each layer at most ``sparsity``) within the accuracy ``budget``
(``--max-accuracy-drop``'s METRIC=VALUE budgets, against the graph before
pruning) on calibration samples held out from every refit; ``2of4`` keeps
the 2 largest of every 4 consecutive input channels of each layer that has
4 or more (NVIDIA's 2:4 structured sparsity, ``sparsity`` 0.5;
edgec.compression.sparsity).

Without ``reconstruct`` a layer loses its weights of smallest magnitude.
With it, layers are pruned in order on the already-pruned model's inputs by
SparseGPT (edgec.compression.obs: the weights of least output-error
saliency go, the rest are updated from the input Hessian), after an
optional ridge refit, whichever of those and plain magnitude pruning does
best on held-out calibration samples (edgec.compression.sequential).

Zeros alone buy nothing on dense runtimes: the gain is storage once the
weights are compressed (clustering and Huffman coding), or speed where a
runtime has sparse kernels (TensorRT's 2:4 sparsity on Ampere and newer).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgec.compression.budget_checks import parse_budgets, within
from edgec.compression.obs import inverse_upper, sparsegpt
from edgec.compression.pass_inputs import CalibrationOptions, Outputs, calibration_feeds, run_all
from edgec.compression.sequential import (
    Compressor,
    SequentialSettings,
    grouped_weights,
    sampled_patches,
    sequential,
    split,
)
from edgec.compression.sparsity import has_2of4_shape, mask_2of4
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Node
from edgec.ir.weight_matrices import set_weight_matrix, weight_matrix, weighted_layers
from edgec.passes.manager import register
from edgec.runtime import Feeds

MODES = ("layer", "global", "sensitivity", "2of4")
RANKINGS = ("sensitivity", "magnitude")
SCAN_DAMPING = 0.01  # SparseGPT's in the scan (its paper's default)
SCAN_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


@dataclass(frozen=True)
class PruneOptions(CalibrationOptions):
    sparsity: float = field(
        default=0.5,
        metadata={"help": "fraction of weights set to zero (the per-layer cap in sensitivity mode)"},
    )
    mode: str = field(default="layer", metadata={"help": "layer | global | sensitivity | 2of4"})
    ranking: str = field(
        default="sensitivity",
        metadata={
            "help": "global mode: what the one threshold ranks: sensitivity (output error added per "
            "weight removed, scanned layer by layer on calibration samples) | magnitude (data-free)"
        },
    )
    budget: str = field(
        default="top1=1",
        metadata={
            "help": "sensitivity mode: METRIC=VALUE budgets, comma-separated, as --max-accuracy-drop "
            "(top1, top5, cosine, snr; accuracy= is held as top1=, its bound without labels)"
        },
    )
    reconstruct: bool = field(
        default=False,
        metadata={"help": "SparseGPT in layer order with held-out damping choice (else magnitude)"},
    )


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


def pruner(sparsities: dict[str, float], two_of_four: bool) -> Compressor:
    """Magnitude pruning without a Hessian, SparseGPT with one (2:4: the magnitude pattern kept)."""

    def compress(node: Node, w: np.ndarray, _h: np.ndarray | None, upper: np.ndarray | None) -> np.ndarray:
        keep = mask_2of4(node).reshape(w.shape) if two_of_four else None
        if upper is None:
            return w * (keep if keep is not None else magnitude_mask(w, sparsities[node.name]))
        return sparsegpt(w, upper, sparsities[node.name], keep)

    return compress


def apply(graph: Graph, sparsities: dict[str, float], feeds: Sequence[Feeds], options: PruneOptions) -> None:
    """Prune ``graph`` to ``sparsities``: magnitude, or in layer order with reconstruction."""
    two_of_four = options.mode == "2of4"
    pruned = [name for name, sparsity in sparsities.items() if sparsity > 0]
    if options.reconstruct and pruned:
        sequential(graph, copy.deepcopy(graph), feeds, pruned, pruner(sparsities, two_of_four))
    elif two_of_four:
        for node in weighted_layers(graph):
            if node.name in sparsities:
                set_weight_matrix(graph, node, weight_matrix(node) * mask_2of4(node))
    else:
        prune_layers(graph, sparsities)


def output_error(reference: Outputs, outputs: Outputs) -> float:
    """Squared error of the first output relative to its energy, over all samples."""
    name = next(iter(reference[0]))
    ref = np.stack([np.asarray(item[name], np.float64) for item in reference])
    got = np.stack([np.asarray(item[name], np.float64) for item in outputs])
    return float(np.sum((got - ref) ** 2) / max(float(np.sum(ref**2)), 1e-30))


def _layer_pruner(
    graph: Graph, node: Node, feeds: Sequence[Feeds], second_order: bool, seed: int
) -> Callable[[float], np.ndarray]:
    """sparsity -> the layer's weight matrix pruned alone: by magnitude, or by SparseGPT on the layer's
    input Hessian in ``graph`` (the method the layer will be pruned with, as OBC's per-layer database),
    even where the reconstruction will fall back to magnitude for too few samples: scanning those by
    magnitude moved EfficientNet-Lite0's sparsity into its depthwise convs, and lost on held-out data."""
    original = weight_matrix(node)
    if not second_order:
        return lambda sparsity: original * magnitude_mask(original, sparsity)
    x = sampled_patches(graph, node, feeds, SequentialSettings().fit_rows, seed)
    upper = inverse_upper(x.transpose(0, 2, 1) @ x, SCAN_DAMPING)
    start = grouped_weights(node)
    return lambda sparsity: sparsegpt(start, upper, sparsity).reshape(original.shape)


def sensitivity_scan(
    graph: Graph, feeds: Sequence[Feeds], cap: float, second_order: bool = False
) -> dict[str, dict[float, float]]:
    """Layer name -> {sparsity: output error with only that layer pruned}, up to ``cap``; the layer
    magnitude-pruned, or with ``second_order`` pruned by SparseGPT."""
    reference = run_all(graph, feeds)
    curves: dict[str, dict[float, float]] = {}
    for seed, node in enumerate(weighted_layers(graph)):
        original = weight_matrix(node)
        pruned = _layer_pruner(graph, node, feeds, second_order, seed)
        curves[node.name] = {}
        for sparsity in (s for s in SCAN_GRID if s <= cap + 1e-9):
            set_weight_matrix(graph, node, pruned(sparsity))
            curves[node.name][sparsity] = output_error(reference, run_all(graph, feeds))
        set_weight_matrix(graph, node, original)
    return curves


def _step_cost(curve: dict[float, float], current: float, step: float, size: int) -> float:
    """Output error added per weight removed by raising a layer from ``current`` to ``step``."""
    return max(curve[step] - curve.get(current, 0.0), 0.0) / ((step - current) * size)


def step_order(curves: dict[str, dict[float, float]], sizes: dict[str, int]) -> list[dict[str, float]]:
    """Allocations of growing sparsity: each raises the layer whose next step adds least error per weight."""
    chosen = {name: 0.0 for name in curves}
    allocations = [dict(chosen)]
    while True:
        steps = {
            name: min(s for s in curve if s > chosen[name])
            for name, curve in curves.items()
            if any(s > chosen[name] for s in curve)
        }
        if not steps:
            return allocations

        name = min(steps, key=lambda n: (_step_cost(curves[n], chosen[n], steps[n], sizes[n]), n))
        chosen[name] = steps[name]
        allocations.append(dict(chosen))


def removed(allocation: dict[str, float], sizes: dict[str, int]) -> float:
    """Weights an allocation removes."""
    return sum(sparsity * sizes[name] for name, sparsity in allocation.items())


def target_allocation(
    curves: dict[str, dict[float, float]], sizes: dict[str, int], target: float
) -> dict[str, float]:
    """``step_order`` followed until ``target`` of all the weights are removed; the layer of the last
    step stops partway, so that the overall sparsity is ``target`` (the grid's sparsest if it cannot)."""
    wanted = target * sum(sizes.values())
    previous: dict[str, float] | None = None
    for allocation in step_order(curves, sizes):
        excess = removed(allocation, sizes) - wanted
        if excess >= 0:
            if previous is None:
                return allocation
            name = next(n for n in allocation if allocation[n] != previous[n])
            allocation[name] -= excess / sizes[name]
            return allocation
        previous = allocation
    return previous or {}


def layer_sizes(graph: Graph) -> dict[str, int]:
    return {node.name: node.const_input(1).size for node in weighted_layers(graph)}


def sensitivity_global(
    graph: Graph, feeds: Sequence[Feeds], sparsity: float, second_order: bool
) -> dict[str, float]:
    """Global mode ranked by sensitivity: per-layer sparsities removing ``sparsity`` of all weights, the
    layers scanned on the fitting share of ``feeds`` (the held-out share judges the reconstruction),
    pruned in the scan as they will be (``second_order``: SparseGPT)."""
    curves = sensitivity_scan(graph, split(feeds)[0], max(SCAN_GRID), second_order)
    return target_allocation(curves, layer_sizes(graph), sparsity)


def allocation_fits(
    graph: Graph, allocation: dict[str, float], feeds: Sequence[Feeds], options: PruneOptions
) -> bool:
    """Whether ``graph`` pruned to ``allocation`` stays within the budget on the samples no refit saw:
    the held-out share of ``feeds`` with ``reconstruct``, else all of them. Top-1/top-5 budgets must hold
    for the 95 % upper bound of the disagreement (a budget of P points needs some 300 / P samples)."""
    held = split(feeds)[1] if options.reconstruct else list(feeds)
    trial = copy.deepcopy(graph)
    apply(trial, allocation, feeds, options)
    return within(parse_budgets(options.budget), run_all(graph, held), run_all(trial, held), confident=True)


def search(graph: Graph, feeds: Sequence[Feeds], options: PruneOptions) -> tuple[list[dict[str, float]], int]:
    """Sensitivity mode: the allocations of ``step_order`` (scanned on the fitting share of ``feeds``) and
    the index of the sparsest that ``allocation_fits``, by bisection. When even the unpruned model does
    not fit (too few held-out samples to hold a top-1 budget with confidence), nothing is pruned at once
    rather than after hours of scans and reconstructions that cannot succeed."""
    if not allocation_fits(graph, {}, feeds, options):
        return [{}], 0
    curves = sensitivity_scan(graph, split(feeds)[0], options.sparsity)
    allocations = step_order(curves, layer_sizes(graph))
    low, high = 0, len(allocations) - 1
    while low < high:
        middle = (low + high + 1) // 2
        fits = allocation_fits(graph, allocations[middle], feeds, options)
        low, high = (middle, high) if fits else (low, middle - 1)
    return allocations, low


def _check(options: PruneOptions) -> None:
    if options.mode not in MODES:
        raise UsageError(f"pass 'prune': mode must be one of {', '.join(MODES)}, got '{options.mode}'")
    if options.ranking not in RANKINGS:
        raise UsageError(
            f"pass 'prune': ranking must be one of {', '.join(RANKINGS)}, got '{options.ranking}'"
        )
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
    """Prune Conv/Gemm/MatMul layers (magnitude or SparseGPT); returns the layers pruned."""
    _check(options)
    layers = weighted_layers(graph)
    ranked = options.mode == "global" and options.ranking != "magnitude"
    needs_data = options.mode == "sensitivity" or ranked or options.reconstruct
    feeds = calibration_feeds(graph, options) if needs_data else []
    if options.mode == "layer":
        sparsities = {node.name: options.sparsity for node in layers}
    elif ranked:
        sparsities = sensitivity_global(graph, feeds, options.sparsity, options.reconstruct)
    elif options.mode == "global":
        sparsities = global_sparsities(layers, options.sparsity)
    elif options.mode == "2of4":
        sparsities = {node.name: 0.5 for node in layers if has_2of4_shape(node)}
    else:
        allocations, index = search(graph, feeds, options)
        sparsities = allocations[index]
    apply(graph, sparsities, feeds, options)
    return sum(1 for sparsity in sparsities.values() if sparsity > 0)
