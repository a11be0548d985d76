"""``cluster``: weight sharing by k-means (Deep Compression's "trained quantization", untrained).

Each Conv/Gemm/MatMul weight is replaced by one of ``clusters`` centroids
fitted to its non-zero values, so it can be stored as log2(clusters)-bit
indices into a codebook: one per layer (``codebook`` layer) or one per
output channel (``channel``: layers whose channels differ in scale, as
depthwise and batch-norm-folded convolutions do, keep their small channels;
edgec.compression.huffman counts every codebook). Zeros (from pruning)
stay exact zeros and outside the k-means. Centroids start evenly spaced
over the value range (``linear``, which Han et al. found best because it
keeps the rare large weights) or at quantiles of the values (``density``).
With ``reconstruct`` the layers are done in order on the already-clustered
model's inputs: Hessian-weighted k-means, assignment column by column with
GPTQ error feedback (edgec.compression.obs) and a least-squares refit of the
codebooks, after an optional ridge refit, whichever of those and nearest
centroid does best on held-out calibration samples
(edgec.compression.sequential). The codebook size per layer is read back
from the weights by edgec.compression.accounting.codebook_sizes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from edgec.compression.obs import cluster_obs
from edgec.compression.pass_inputs import CalibrationOptions, calibration_feeds
from edgec.compression.sequential import Compressor, sequential
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Node
from edgec.ir.weight_matrices import set_weight_matrix, weight_matrix, weighted_layers
from edgec.passes.manager import register

INITS = ("linear", "density")
CODEBOOKS = ("layer", "channel")


@dataclass(frozen=True)
class ClusterOptions(CalibrationOptions):
    clusters: int = field(default=16, metadata={"help": "codebook entries (besides zero)"})
    codebook: str = field(default="layer", metadata={"help": "one codebook per: layer | channel"})
    init: str = field(default="linear", metadata={"help": "centroid initialization: linear | density"})
    iterations: int = field(default=30, metadata={"help": "k-means iterations at most"})
    reconstruct: bool = field(
        default=False,
        metadata={"help": "GPTQ-style assignment in layer order, held-out choice (else nearest centroid)"},
    )


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


def cluster_rows(matrix: np.ndarray, clusters: int, init: str, iterations: int) -> np.ndarray:
    return np.stack([cluster_matrix(row, clusters, init, iterations) for row in matrix])


def needs_clustering(matrix: np.ndarray, clusters: int, codebook: str) -> bool:
    if codebook == "layer":
        return np.unique(matrix[matrix != 0]).size > clusters
    return any(np.unique(row[row != 0]).size > clusters for row in matrix)


def clusterer(options: ClusterOptions) -> Compressor:
    """Nearest centroid without a Hessian; GPTQ assignment and codebook refit with one."""

    def compress(node: Node, w: np.ndarray, h: np.ndarray | None, upper: np.ndarray | None) -> np.ndarray:
        keep = weight_matrix(node).reshape(w.shape) != 0
        if upper is None:
            flat = (w * keep).reshape(-1, w.shape[2])
            fit = cluster_matrix if options.codebook == "layer" else cluster_rows
            return fit(flat, options.clusters, options.init, options.iterations).reshape(w.shape)
        assert h is not None
        return cluster_obs(w, h, upper, keep, options.clusters, options.codebook == "layer")

    return compress


def _check(options: ClusterOptions) -> None:
    if options.init not in INITS:
        raise UsageError(f"pass 'cluster': init must be one of {', '.join(INITS)}, got '{options.init}'")
    if options.codebook not in CODEBOOKS:
        raise UsageError(f"pass 'cluster': codebook must be layer or channel, got '{options.codebook}'")
    if not 2 <= options.clusters <= 256:
        raise UsageError(f"pass 'cluster': clusters must be in [2, 256], got {options.clusters}")


@register("cluster", ClusterOptions)
def cluster_weights(graph: Graph, options: ClusterOptions) -> int:
    """Replace each layer's weights by shared values (per layer or channel); returns the layers changed."""
    _check(options)
    names = [
        node.name
        for node in weighted_layers(graph)
        if needs_clustering(weight_matrix(node), options.clusters, options.codebook)
    ]
    if options.reconstruct and names:
        feeds = calibration_feeds(graph, options)
        sequential(graph, copy.deepcopy(graph), feeds, names, clusterer(options))
        return len(names)
    compress = clusterer(options)
    for node in weighted_layers(graph):
        if node.name in names:
            matrix = weight_matrix(node)
            clustered = compress(node, matrix[None], None, None)[0]
            set_weight_matrix(graph, node, clustered)
    return len(names)
