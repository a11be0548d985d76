"""Data-aware reconstruction: refit compressed layers to reproduce their original outputs.

For each layer, in graph order, the target is what the *reference*
(uncompressed) graph's layer computes before its activation on the
reference's own inputs; the fit uses the *compressed* graph's inputs, so it
also absorbs the error of the layers before it. Weights that are zero stay
zero (pruning masks survive: the OBS sweep of edgec.compression.obs with a
fixed pattern spreads what the refit cannot keep over the surviving
weights). Everything is chosen per layer on held-out calibration samples by
edgec.compression.sequential: the damping, whether to refit at all (a refit
that fits the calibration samples but not the held-out ones is rolled
back), and a layer with too few samples per input keeps its weights. Layers
are matched between the two graphs by node name, which the compression
passes keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgec.compression.obs import sparsegpt
from edgec.compression.sequential import LayerRecord, SequentialSettings, sequential
from edgec.ir.graph import Graph, Node
from edgec.ir.weight_matrices import weight_matrix, weighted_layers
from edgec.runtime import Feeds

DEFAULT_SETTINGS = SequentialSettings()


def keep_zeros(node: Node, w: np.ndarray, _h: np.ndarray | None, upper: np.ndarray | None) -> np.ndarray:
    """The refitted weights with the layer's zeros kept (unchanged without a Hessian)."""
    if upper is None:
        return w
    return sparsegpt(w, upper, 0.0, weight_matrix(node).reshape(w.shape) != 0)


def reconstruct(
    graph: Graph,
    reference: Graph,
    feeds: Sequence[Feeds],
    names: Sequence[str] | None = None,
    settings: SequentialSettings = DEFAULT_SETTINGS,
    output_rows: dict[str, np.ndarray] | None = None,
) -> list[LayerRecord]:
    """Refit the layers ``names`` (all matched ones by default); one record per layer, ``plain`` if kept.

    ``output_rows``: for a layer that lost output channels too, the reference's channels it kept.
    """
    chosen = [node.name for node in weighted_layers(graph)] if names is None else list(names)
    return sequential(graph, reference, feeds, chosen, keep_zeros, settings, output_rows)
