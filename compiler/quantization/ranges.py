"""Calibration methods: from a tensor's statistics to the range to quantize it over.

All four follow NVIDIA's pytorch-quantization histogram calibrator (REFERENCE
D1/D2), on the histogram of ``|x|`` with 2048 bins over ``[0, amax]``:

- ``minmax``: the largest observed ``|x|`` (min and max when asymmetric);
- ``percentile``: the bin edge where the cumulative histogram reaches p
  (default 99.99 %);
- ``entropy``: TensorRT's KL-divergence threshold (``EntropyCalibration2``):
  for every candidate of 128..2048 bins, the reference distribution with the
  outliers folded into its last bin against its 128-level quantization;
  the last candidate of least divergence wins, ``amax = edges[i]``;
- ``mse``: the bin centre (from bin 128 on) that minimises the histogram-
  weighted squared error of fake-quantizing the bin centres.

Entropy can clip hard where a tensor takes few distinct values (the
histogram is mostly empty bins, e.g. 8-bit pixels as a model input): the
KL divergence of such histograms is smallest at a low threshold. This is the
reference algorithm's behaviour, kept as is; percentile is the default.

Asymmetric ranges (uint8/int8 with a zero point): minmax and percentile
take both tails of the signed histogram; entropy clips the observed
[min, max] to the symmetric threshold; mse searches ranges shrunk from
[min, max] towards zero by a common factor.
"""

from __future__ import annotations

import numpy as np

from edgec.quantization.collect import TensorStats

METHODS = ("minmax", "percentile", "entropy", "mse")
DEFAULT_PERCENTILE = 99.99
START_BIN = 128  # the first candidate of entropy and MSE (pytorch-quantization's start_bin)
LEVELS = 128  # int8 is symmetric: 128 levels on each side (REFERENCE D1)


def percentile_amax(counts: np.ndarray, edges: np.ndarray, percentile: float) -> float:
    """pytorch-quantization's ``_compute_amax_percentile``: the edge where the CDF reaches p."""
    cdf = np.cumsum(counts / counts.sum())
    index = int(np.searchsorted(cdf, percentile / 100.0))
    return float(edges[min(index, len(edges) - 1)])


def entropy_divergences(counts: np.ndarray, levels: int = LEVELS, start: int = START_BIN) -> np.ndarray:
    """KL(P || Q) for every candidate bin count ``i`` in ``start..len(counts)``.

    Equal, up to rounding, to pytorch-quantization's ``_compute_amax_entropy``
    loop, computed in closed form from cumulative sums: candidate ``i``'s
    quantization level ``k`` covers bins ``ceil(k*i/levels) .. ceil((k+1)*i/levels) - 1``,
    and Q spreads each level's mass evenly over its non-empty bins.
    """
    bins = counts.astype(np.float64).copy()
    bins[0] = bins[1]  # zero-bin suppression, as the reference does
    total = bins.sum()
    n = len(bins)
    candidates = np.arange(start, n + 1)
    cum = np.concatenate([[0.0], np.cumsum(bins)])
    cum_nonzero = np.concatenate([[0], np.cumsum(bins > 0)])
    xlogx = np.where(bins > 0, bins * np.log(np.where(bins > 0, bins, 1.0)), 0.0)
    cum_xlogx = np.concatenate([[0.0], np.cumsum(xlogx)])

    k = np.arange(levels + 1)
    bounds = -((-k[None, :] * candidates[:, None]) // levels)  # ceil(k * i / levels), exact in integers
    mass = cum[bounds[:, 1:]] - cum[bounds[:, :-1]]
    filled = cum_nonzero[bounds[:, 1:]] - cum_nonzero[bounds[:, :-1]]
    tail = total - cum[candidates]
    last = bins[candidates - 1]
    # P: bins[:i] with the tail added to bin i-1; sum over j of p_j log p_j.
    last_new = last + tail
    p_log_p = cum_xlogx[candidates - 1] + np.where(
        last_new > 0, last_new * np.log(np.where(last_new > 0, last_new, 1.0)), 0.0
    )
    p_log_p = p_log_p / total - np.log(total)
    # Q: level mass spread over its non-empty bins; normalised by sum(bins[:i]).
    q_total = cum[candidates]
    average = np.divide(mass, filled, out=np.zeros_like(mass), where=filled > 0)
    log_q = np.log(np.where(filled > 0, average, 1.0) / np.where(q_total > 0, q_total, 1.0)[:, None])
    weight = mass.copy()
    weight[:, -1] += tail
    p_log_q = np.where(filled > 0, weight * log_q, 0.0).sum(axis=1) / total
    divergence = p_log_p - p_log_q
    # The tail lands in an empty bin that Q leaves empty, or Q is empty: infinite divergence.
    return np.where(((last == 0) & (tail > 0)) | (q_total == 0), np.inf, divergence)


def entropy_amax(counts: np.ndarray, edges: np.ndarray) -> float:
    """TensorRT's entropy threshold on the ``|x|`` histogram (REFERENCE D1)."""
    if len(counts) <= START_BIN or counts.sum() == 0:
        return float(edges[-1])
    divergence = entropy_divergences(counts)
    last_argmin = len(divergence) - 1 - int(np.argmin(divergence[::-1]))
    return float(edges[last_argmin + START_BIN])


def fake_quant_symmetric(values: np.ndarray, amax: np.ndarray, bound: int = 127) -> np.ndarray:
    """pytorch-quantization's ``fake_tensor_quant`` (narrow range, round half to even)."""
    scale = bound / amax
    return np.clip(np.round(values * scale), -bound, bound) / scale


def mse_amax(counts: np.ndarray, edges: np.ndarray) -> float:
    """pytorch-quantization's ``_compute_amax_mse``: the bin centre of least weighted error."""
    centers = (edges[1:] + edges[:-1]) / 2
    if len(centers) <= START_BIN or centers[-1] == 0:
        return float(edges[-1])
    candidates = centers[START_BIN:]
    errors = np.empty(len(candidates))
    for first in range(0, len(candidates), 256):
        amax = candidates[first : first + 256, None]
        quant = fake_quant_symmetric(centers[None, :], amax)
        errors[first : first + 256] = ((quant - centers[None, :]) ** 2 * counts[None, :]).mean(axis=1)
    return float(candidates[int(np.argmin(errors))])


def symmetric_amax(stats: TensorStats, method: str, percentile: float = DEFAULT_PERCENTILE) -> float:
    if method == "minmax" or stats.amax == 0.0:
        return stats.amax
    counts, edges = stats.abs_histogram()
    if method == "percentile":
        return percentile_amax(counts, edges, percentile)
    if method == "entropy":
        return entropy_amax(counts, edges)
    if method == "mse":
        return mse_amax(counts, edges)
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")


def _asymmetric_mse(stats: TensorStats, levels: int) -> tuple[float, float]:
    counts, edges = stats.signed_histogram()
    centers = (edges[1:] + edges[:-1]) / 2
    low, high = min(stats.minimum, 0.0), max(stats.maximum, 0.0)
    factors = np.linspace(1.0, 0.05, 96)[:, None]
    scale = (high - low) * factors / levels
    zero = np.round(-low * factors / scale)
    quant = (np.clip(np.round(centers[None, :] / scale) + zero, 0, levels) - zero) * scale
    errors = ((quant - centers[None, :]) ** 2 * counts[None, :]).sum(axis=1)
    best = float(factors[int(np.argmin(errors)), 0])
    return low * best, high * best


def asymmetric_range(
    stats: TensorStats, method: str, percentile: float = DEFAULT_PERCENTILE, levels: int = 255
) -> tuple[float, float]:
    """``(low, high)`` for an asymmetric scheme with ``levels + 1`` integer values."""
    low, high = stats.minimum, stats.maximum
    if method == "minmax" or stats.amax == 0.0:
        return low, high
    if method == "percentile":
        counts, edges = stats.signed_histogram()
        cdf = np.cumsum(counts / counts.sum())
        top = edges[min(int(np.searchsorted(cdf, percentile / 100.0)) + 1, len(edges) - 1)]
        bottom = edges[int(np.searchsorted(cdf, 1.0 - percentile / 100.0))]
        return max(low, float(bottom)), min(high, float(top))
    if method == "entropy":
        threshold = symmetric_amax(stats, "entropy")
        return max(low, -threshold), min(high, threshold)
    if method == "mse":
        return _asymmetric_mse(stats, levels)
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
