"""Data-aware reconstruction: refit a compressed layer to reproduce its original outputs.

For each layer, the target is what the *reference* (uncompressed) graph's
layer computes before its activation, on the reference graph's own inputs;
the fit uses the *compressed* graph's inputs to that layer, so it also
absorbs the error of the layers before it (layers are refitted in order,
each after the ones before it). Weights that are zero stay zero (pruning
masks survive), everything else and the bias are solved by ridge-damped
least squares per output channel, as in Optimal Brain Surgeon / SparseGPT
without the second-order pruning decisions. Layers are matched between the
two graphs by node name, which the compression passes keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgec.compression.calibration import capture
from edgec.compression.layers import (
    bias_vector,
    can_have_bias,
    layer_outputs,
    layer_patches,
    positions,
    set_bias_vector,
    set_weight_matrix,
    weight_matrix,
    weighted_layers,
)
from edgec.ir.graph import Graph, Node
from edgec.runtime import Feeds


@dataclass(frozen=True)
class RefitSettings:
    damping: float = 0.01  # ridge term, as a fraction of the mean diagonal of X^T X
    max_rows: int = 8192  # positions sampled per layer
    seed: int = 0


def reconstruct(
    graph: Graph,
    reference: Graph,
    feeds: Sequence[Feeds],
    names: Sequence[str] | None = None,
    settings: RefitSettings = RefitSettings(),
) -> int:
    """Refit the layers ``names`` (all matched ones by default); returns how many were refitted.

    A layer with no more sample positions than inputs per output channel
    (a Gemm with few calibration samples) keeps its weights.
    """
    ref_nodes = {node.name: node for node in weighted_layers(reference)}
    wanted = set(names) if names is not None else set(ref_nodes)
    layers = [n for n in weighted_layers(graph) if n.name in ref_nodes and n.name in wanted]
    ref_inputs = capture(reference, [ref_nodes[n.name].inputs[0].name for n in layers], feeds)
    refitted = 0
    for node in layers:
        ref_node = ref_nodes[node.name]
        ref_x = ref_inputs[ref_node.inputs[0].name]
        if positions(node, ref_x.shape[0]) <= weight_matrix(node).shape[1]:
            continue  # fewer samples than unknowns per output: a refit would only fit noise
        current = capture(graph, [node.inputs[0].name], feeds)[node.inputs[0].name]
        refit_layer(graph, node, ref_node, ref_x, current, settings)
        refitted += 1
    return refitted


def refit_layer(
    graph: Graph, node: Node, ref_node: Node, ref_x: np.ndarray, x: np.ndarray, settings: RefitSettings
) -> None:
    """Solve the node's weights (its zero pattern kept) so that it reproduces ``ref_node`` on ``ref_x``."""
    count = positions(node, ref_x.shape[0])
    rng = np.random.default_rng(settings.seed)
    rows = np.sort(rng.choice(count, min(count, settings.max_rows), replace=False))
    ref_patches = layer_patches(ref_node, ref_x.astype(np.float64), rows)
    target = layer_outputs(ref_node, ref_patches, weight_matrix(ref_node), bias_vector(ref_node))
    patches = layer_patches(node, x.astype(np.float64), rows)
    matrix = weight_matrix(node).astype(np.float64)
    with_bias = can_have_bias(node)
    new_matrix, new_bias = np.zeros_like(matrix), np.zeros(matrix.shape[0])
    per_group = matrix.shape[0] // patches.shape[0]
    for g in range(patches.shape[0]):
        out = slice(g * per_group, (g + 1) * per_group)
        start = np.concatenate([matrix[out], new_bias[out, None] + _bias_or_zero(node, out)], axis=1)
        fitted = _solve_group(patches[g], target[:, out], start, with_bias, settings.damping)
        new_matrix[out], new_bias[out] = fitted[:, :-1], fitted[:, -1]
    set_weight_matrix(graph, node, new_matrix)
    if with_bias:
        set_bias_vector(graph, node, new_bias)


def _bias_or_zero(node: Node, rows: slice) -> np.ndarray:
    bias = bias_vector(node)
    return np.zeros((rows.stop - rows.start, 1)) if bias is None else bias[rows, None].astype(np.float64)


def _solve_group(
    patches: np.ndarray, target: np.ndarray, start: np.ndarray, with_bias: bool, damping: float
) -> np.ndarray:
    """Least squares per output row over its non-zero inputs, ridge-pulled towards ``start``.

    ``start`` is [rows, inputs + 1]: the compressed weights and bias. The
    ridge term keeps a layer with fewer samples than inputs near them.
    """
    mask = start[:, :-1] != 0
    design = np.concatenate([patches, np.ones((patches.shape[0], 1))], axis=1)
    gram = design.T @ design
    ridge = damping * float(np.mean(np.diag(gram)[:-1])) + 1e-12
    inputs = np.arange(gram.shape[0] - 1)
    gram[inputs, inputs] += ridge
    cross = design.T @ target + ridge * np.concatenate([start[:, :-1], np.zeros((start.shape[0], 1))], 1).T
    full_mask = np.concatenate([mask, np.full((mask.shape[0], 1), with_bias)], axis=1)
    fitted = np.zeros((mask.shape[0], design.shape[1]))
    patterns, inverse = np.unique(full_mask, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        rows = np.flatnonzero(inverse.reshape(-1) == index)
        keep = np.flatnonzero(pattern)
        if keep.size == 0:
            continue
        solution = np.linalg.solve(gram[np.ix_(keep, keep)], cross[np.ix_(keep, rows)])
        fitted[np.ix_(rows, keep)] = solution.T
    return fitted
