"""``cluster``: weight sharing by k-means per layer (Deep Compression's "trained quantization", untrained).

Each Conv/Gemm/MatMul weight is replaced by the nearest of ``clusters``
centroids fitted to its non-zero values, so it can be stored as
log2(clusters)-bit indices into a per-layer codebook. Zeros (from pruning)
stay exact zeros and outside the k-means. Centroids start evenly spaced
over the value range (``linear``, which Han et al. found best because it
keeps the rare large weights) or at quantiles of the values (``density``).
The codebook size per layer is read back from the weights by
edgec.compression.accounting.codebook_sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.compression.layers import set_weight_matrix, weight_matrix, weighted_layers
from edgec.errors import UsageError
from edgec.ir.graph import Graph
from edgec.passes.manager import register

INITS = ("linear", "density")


@dataclass(frozen=True)
class ClusterOptions:
    clusters: int = field(default=16, metadata={"help": "codebook entries per layer (besides zero)"})
    init: str = field(default="linear", metadata={"help": "centroid initialization: linear | density"})
    iterations: int = field(default=30, metadata={"help": "k-means iterations at most"})


def kmeans_1d(values: np.ndarray, clusters: int, init: str, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (sorted) and the label of each value, by Lloyd's algorithm in one dimension."""
    values = values.astype(np.float64)
    if init == "linear":
        centroids = np.linspace(values.min(), values.max(), clusters)
    else:
        centroids = np.quantile(values, (np.arange(clusters) + 0.5) / clusters)
    labels = np.zeros(values.shape, dtype=np.int64)
    for _ in range(iterations):
        centroids = np.sort(centroids)
        labels = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        counts = np.bincount(labels, minlength=clusters)
        sums = np.bincount(labels, weights=values, minlength=clusters)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(updated, centroids, rtol=0, atol=1e-12):
            break
        centroids = updated
    used = np.unique(labels)
    remap = np.full(clusters, -1)
    remap[used] = np.arange(used.size)
    return centroids[used], remap[labels]


def cluster_matrix(matrix: np.ndarray, clusters: int, init: str, iterations: int) -> np.ndarray:
    """``matrix`` with each non-zero value replaced by its centroid."""
    nonzero = matrix != 0
    if np.unique(matrix[nonzero]).size <= clusters:
        return matrix
    centroids, labels = kmeans_1d(matrix[nonzero], clusters, init, iterations)
    clustered = np.zeros_like(matrix)
    clustered[nonzero] = centroids[labels]
    return clustered


@register("cluster", ClusterOptions)
def cluster_weights(graph: Graph, options: ClusterOptions) -> int:
    """Replace each layer's weights by k-means centroids (per-layer codebooks); returns the layers changed."""
    if options.init not in INITS:
        raise UsageError(f"pass 'cluster': init must be one of {', '.join(INITS)}, got '{options.init}'")
    if not 2 <= options.clusters <= 256:
        raise UsageError(f"pass 'cluster': clusters must be in [2, 256], got {options.clusters}")
    changed = 0
    for node in weighted_layers(graph):
        matrix = weight_matrix(node)
        clustered = cluster_matrix(matrix, options.clusters, options.init, options.iterations)
        if clustered is not matrix:
            set_weight_matrix(graph, node, clustered)
            changed += 1
    return changed
