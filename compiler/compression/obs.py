"""Second-order weight compression of one layer: SparseGPT pruning and GPTQ-style cluster assignment.

Both minimise a layer's output error ``||(W - Q) X||^2`` greedily, column by
column, as Optimal Brain Surgeon does: after a column of ``W`` is pruned or
snapped to a codebook value, its error is spread over the columns not yet
done, weighted by the inverse of the input Hessian ``H = X^T X`` (through the
upper Cholesky factor ``U`` of ``H^-1``; Frantar et al., "SparseGPT", 2023,
and "GPTQ", 2022). Weights are [groups, rows, cols] and Hessians [groups,
cols, cols] (a depthwise Conv is one small problem per channel, solved in one
batch). Pruning picks, per block of ``MASK_BLOCK`` columns, the weights of
least saliency ``w^2 / U_ii^2`` in each output channel (SparseGPT's adaptive
mask selection, with blocks small enough for layers of a few hundred
inputs; per output channel as Wanda compares weights, so that channels of a
small folded batch-norm scale are not pruned away whole); clustering snaps
each weight to the nearest value of its row's (or the layer's) codebook, and
the codebooks are then refitted by least squares on the same Hessian.

This module is numpy only and knows nothing of graphs: edgec.compression.sequential
feeds it each layer's Hessian from the already-compressed model's inputs.
"""

from __future__ import annotations

import numpy as np

BLOCK = 128  # columns per lazy update
MASK_BLOCK = 16  # columns per pruning decision: small, so that later decisions see earlier updates


def damped(hessian: np.ndarray, damping: float) -> np.ndarray:
    """``H + damping * mean diag H * I`` per group; inputs no sample reached get a unit diagonal."""
    h = hessian.astype(np.float64).copy()
    index = np.arange(h.shape[1])
    diag = h[:, index, index]
    scale = np.maximum(diag, 0).mean(axis=1, keepdims=True)
    h[:, index, index] = np.where(diag <= 0, 1.0, diag) + damping * np.where(scale > 0, scale, 1.0)
    return h


def inverse_upper(hessian: np.ndarray, damping: float) -> np.ndarray:
    """``U`` with ``damped(H)^-1 = U^T U`` per group."""
    return np.linalg.cholesky(np.linalg.inv(damped(hessian, damping))).transpose(0, 2, 1)


def _sweep(w: np.ndarray, upper: np.ndarray, choose: object, block: int = BLOCK) -> np.ndarray:
    """The OBS sweep: ``choose(start, stop, block weights) -> decide(i, column) -> new column``."""
    w = w.astype(np.float64).copy()
    q = np.zeros_like(w)
    cols = w.shape[2]
    for start in range(0, cols, block):
        stop = min(start + block, cols)
        decide = choose(start, stop, w[:, :, start:stop])  # type: ignore[operator]
        errors = np.zeros((w.shape[0], w.shape[1], stop - start))
        for i in range(start, stop):
            column = w[:, :, i]
            q[:, :, i] = decide(i, column)
            error = (column - q[:, :, i]) / upper[:, i, i][:, None]
            w[:, :, i + 1 : stop] -= error[:, :, None] * upper[:, None, i, i + 1 : stop]
            errors[:, :, i - start] = error
        w[:, :, stop:] -= errors @ upper[:, start:stop, stop:]
    return q


def sparsegpt(
    w: np.ndarray, upper: np.ndarray, sparsity: float, keep: np.ndarray | None = None
) -> np.ndarray:
    """``w`` pruned to ``sparsity`` (or to the pattern ``keep``) with the survivors updated."""
    index = np.arange(w.shape[2])
    diag = upper[:, index, index]

    def choose(start: int, stop: int, block: np.ndarray) -> object:
        if keep is not None:
            pruned = ~keep[:, :, start:stop]
        else:
            saliency = block**2 / diag[:, None, start:stop] ** 2
            drop = round(sparsity * stop) - round(sparsity * start)  # exact over the whole row
            order = np.argsort(saliency, axis=2, kind="stable")
            pruned = np.zeros(saliency.shape, dtype=bool)
            np.put_along_axis(pruned, order[:, :, :drop], True, axis=2)
        return lambda i, column: np.where(pruned[:, :, i - start], 0.0, column)

    return _sweep(w, upper, choose, MASK_BLOCK)


def nearest(values: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook entry for ``values`` [..., n] with ``codebooks`` [..., K]."""
    return np.argmin(np.abs(values[..., :, None] - codebooks[..., None, :]), axis=-1)


def gptq_assign(w: np.ndarray, upper: np.ndarray, codebooks: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Codebook indices [groups, rows, cols] chosen column by column with OBS error feedback.

    ``codebooks`` [groups, rows, K]; weights outside ``keep`` stay zero
    (index -1).
    """
    labels = np.full(w.shape, -1, dtype=np.int64)

    def choose(start: int, stop: int, block: np.ndarray) -> object:
        def decide(i: int, column: np.ndarray) -> np.ndarray:
            label = np.argmin(np.abs(column[:, :, None] - codebooks), axis=-1)
            labels[:, :, i] = np.where(keep[:, :, i], label, -1)
            value = np.take_along_axis(codebooks, label[:, :, None], axis=-1)[:, :, 0]
            return np.where(keep[:, :, i], value, 0.0)

        return decide

    _sweep(w, upper, choose)
    return labels


def _sorted_nearest(values: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """``nearest`` for codebooks sorted along their last axis [rows, K], values [rows, n]."""
    middles = (codebooks[:, 1:] + codebooks[:, :-1]) / 2
    labels = np.zeros(values.shape, dtype=np.int64)
    for k in range(middles.shape[1]):
        labels += values > middles[:, k : k + 1]
    return labels


def kmeans_rows(values: np.ndarray, weights: np.ndarray, keep: np.ndarray, clusters: int) -> np.ndarray:
    """Weighted 1-D k-means per row of ``values`` [rows, n] over its kept entries: codebooks [rows, K].

    Centroids start evenly spaced over each row's range (Deep Compression's
    linear initialisation) and stay sorted.
    """
    rows = values.shape[0]
    low = np.min(np.where(keep, values, np.inf), axis=1)
    high = np.max(np.where(keep, values, -np.inf), axis=1)
    low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 0.0)
    codebooks = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, clusters)[None, :]
    mass = (weights * keep).ravel()
    offsets = (np.arange(rows) * clusters)[:, None]
    for _ in range(25):
        index = (_sorted_nearest(values, codebooks) + offsets).ravel()
        counts = np.bincount(index, mass, rows * clusters).reshape(rows, clusters)
        sums = np.bincount(index, mass * values.ravel(), rows * clusters).reshape(rows, clusters)
        updated = np.sort(np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), codebooks), axis=1)
        if np.allclose(updated, codebooks, rtol=0, atol=1e-12):
            break
        codebooks = updated
    return codebooks


def refit_codebooks(
    w: np.ndarray, hessian: np.ndarray, labels: np.ndarray, codebooks: np.ndarray, shared: bool
) -> np.ndarray:
    """Least-squares codebook values for fixed ``labels``: minimise ``(w - Oc)^T H (w - Oc)`` per row.

    ``shared``: one codebook for the layer (summed over rows and groups),
    else one per row. Entries no weight uses keep their value.
    """
    clusters = codebooks.shape[-1]
    size = (clusters, clusters)
    gram = np.zeros((1, 1, *size)) if shared else np.zeros((*w.shape[:2], *size))
    right = np.zeros((1, 1, clusters)) if shared else np.zeros((*w.shape[:2], clusters))
    for g in range(w.shape[0]):
        for start in range(0, w.shape[1], 64):
            rows = slice(start, start + 64)
            onehot = (labels[g, rows, :, None] == np.arange(clusters)).astype(np.float64)  # [r, n, K]
            count = onehot.shape[0]
            flat = onehot.transpose(1, 0, 2).reshape(onehot.shape[1], -1)  # [n, r * K]: one BLAS product
            h_onehot = (hessian[g] @ flat).reshape(-1, count, clusters).transpose(1, 0, 2)
            a = onehot.transpose(0, 2, 1) @ h_onehot
            b = (h_onehot.transpose(0, 2, 1) @ w[g, rows][:, :, None])[:, :, 0]
            if shared:
                gram[0, 0] += a.sum(axis=0)
                right[0, 0] += b.sum(axis=0)
            else:
                gram[g, rows], right[g, rows] = a, b
    base = codebooks[:1, :1] if shared else codebooks
    used = np.einsum("...kk->...k", gram) > 0
    safe = gram + np.eye(clusters) * (~used)[..., None, :]
    solved = np.linalg.solve(safe, np.where(used, right, base)[..., None])[..., 0]
    return np.broadcast_to(np.where(used, solved, base), codebooks.shape).copy()


def cluster_obs(
    w: np.ndarray,
    hessian: np.ndarray,
    upper: np.ndarray | None,
    keep: np.ndarray,
    clusters: int,
    shared: bool,
) -> np.ndarray:
    """``w`` snapped to ``clusters`` values per row (``shared``: per layer); nearest without ``upper``.

    With ``upper`` (and the damped ``hessian``): Hessian-weighted k-means,
    GPTQ assignment with error feedback and a least-squares refit of the
    codebooks, twice.
    """
    groups, rows, cols = w.shape
    importance = (
        np.broadcast_to(np.einsum("gii->gi", hessian)[:, None, :], w.shape) if upper is not None else None
    )
    flat = (lambda a: a.reshape(1, -1)) if shared else (lambda a: a.reshape(groups * rows, cols))
    weights = np.ones_like(w) if importance is None else importance
    codebooks = kmeans_rows(flat(w), flat(weights), flat(keep), clusters)
    codebooks = (
        np.broadcast_to(codebooks.reshape(1, 1, clusters), (groups, rows, clusters))
        if shared
        else (codebooks.reshape(groups, rows, clusters))
    )
    if upper is None:
        labels = _sorted_nearest(w.reshape(-1, cols), codebooks.reshape(-1, clusters)).reshape(w.shape)
        value = np.take_along_axis(codebooks, labels, axis=-1)
        return np.where(keep, value, 0.0)
    for _ in range(2):
        labels = gptq_assign(w, upper, codebooks, keep)
        codebooks = refit_codebooks(w, hessian, labels, codebooks, shared)
    value = np.take_along_axis(codebooks, np.maximum(labels, 0), axis=-1)
    return np.where(keep, value, 0.0)
