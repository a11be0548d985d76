"""SparseGPT pruning and GPTQ-style clustering of a layer: better than magnitude/nearest on held-out data."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.compression.obs import cluster_obs, damped, inverse_upper, sparsegpt


def _correlated_inputs(rows: int, cols: int, seed: int) -> np.ndarray:
    """Inputs whose columns are correlated, as neighbouring pixels and channels are: [1, rows, cols]."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(cols, cols)) / np.sqrt(cols) * 3 + np.eye(cols)
    return (rng.normal(size=(rows, cols)) @ mixing)[None]


def _problem(cols: int = 48, outputs: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights [1, outputs, cols], calibration inputs, held-out inputs from the same distribution)."""
    weights = np.random.default_rng(7).normal(size=(1, outputs, cols))
    return weights, _correlated_inputs(512, cols, 1), _correlated_inputs(512, cols, 2)


def _held_error(w: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[0] @ (w[0] - q[0]).T) ** 2) / np.sum((x[0] @ w[0].T) ** 2))


def test_sparsegpt_prunes_exactly_and_beats_magnitude_on_held_out_inputs():
    w, x, held = _problem()
    hessian = np.einsum("gni,gnj->gij", x, x)
    pruned = sparsegpt(w, inverse_upper(hessian, 0.01), 0.6)
    assert np.mean(pruned == 0) == pytest.approx(0.6, abs=0.005)
    order = np.argsort(np.abs(w), axis=None)
    magnitude = w.copy().ravel()
    magnitude[order[: round(0.6 * w.size)]] = 0
    magnitude = magnitude.reshape(w.shape)
    assert _held_error(w, pruned, held) < 0.85 * _held_error(w, magnitude, held)


def test_a_fixed_pattern_stays_and_the_survivors_absorb_the_error():
    w, x, held = _problem()
    keep = np.random.default_rng(3).random(w.shape) < 0.5
    hessian = np.einsum("gni,gnj->gij", x, x)
    pruned = sparsegpt(w, inverse_upper(hessian, 0.01), 0.0, keep)
    assert np.all(pruned[~keep] == 0) and np.any(pruned[keep] != w[keep])
    assert _held_error(w, pruned, held) < 0.9 * _held_error(w, w * keep, held)


def test_gptq_assignment_beats_nearest_centroid_per_channel_on_held_out_inputs():
    w, x, held = _problem()
    w = w * np.exp(np.random.default_rng(5).normal(0, 1.5, (1, w.shape[1], 1)))  # channels of many scales
    hessian = np.einsum("gni,gnj->gij", x, x)
    keep = np.ones(w.shape, dtype=bool)
    nearest = cluster_obs(w, hessian, None, keep, 4, shared=False)
    assigned = cluster_obs(w, damped(hessian, 0.01), inverse_upper(hessian, 0.01), keep, 4, shared=False)
    for q in (nearest, assigned):
        assert max(np.unique(row).size for row in q[0]) <= 4
    assert _held_error(w, assigned, held) < 0.8 * _held_error(w, nearest, held)
    shared = cluster_obs(w, hessian, None, keep, 4, shared=True)
    assert np.unique(shared).size <= 4
    assert _held_error(w, nearest, held) < 0.5 * _held_error(w, shared, held)  # per-channel codebooks pay
