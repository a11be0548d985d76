"""Calibration methods on synthetic distributions with known answers, and quantization parameters."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgec.quantization.collect import TensorStats
from edgec.quantization.ranges import (
    METHODS,
    asymmetric_range,
    entropy_amax,
    entropy_divergences,
    fake_quant_symmetric,
    mse_amax,
    percentile_amax,
    symmetric_amax,
)
from edgec.quantization.scheme import (
    QuantScheme,
    asymmetric_params,
    power_of_two_scale,
    quantize_array,
    symmetric_params,
    symmetric_scale,
)

BINS = 2048


def stats_of(x: np.ndarray, bins: int = BINS) -> TensorStats:
    """TensorStats as collect_statistics builds them: min/max, then a signed histogram over [-amax, amax]."""
    stats = TensorStats(float(x.min()), float(x.max()))
    counts, _ = np.histogram(x, bins=2 * bins, range=(-stats.amax, stats.amax))
    stats.histogram = counts.astype(np.int64)
    return stats


def gaussian_with_outliers(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_normal(200_000), rng.uniform(15.0, 20.0, 20)])


def reference_entropy(bins_in: np.ndarray) -> np.ndarray:
    """pytorch-quantization's ``_compute_amax_entropy`` loop (REFERENCE D1), as written there."""
    bins = bins_in.astype(np.float64).copy()
    bins[0] = bins[1]
    divergences = []
    for i in range(128, len(bins) + 1):
        digitized = np.digitize(range(i), np.linspace(0, i, num=129)) - 1
        digitized[bins[:i] == 0] = -1
        density = np.zeros(128)
        for index, level in enumerate(digitized):
            if level != -1:
                density[level] += bins[index]
        for level, count in Counter(digitized).items():
            if level != -1:
                density[level] /= count
        q = np.array([density[level] if level != -1 else 0.0 for level in digitized])
        p = bins[:i].copy()
        p[-1] += bins[i:].sum()
        p, q = p / p.sum(), q / q.sum()
        if np.any((p > 0) & (q == 0)):
            divergences.append(np.inf)
            continue
        nonzero = p > 0
        divergences.append(float(np.sum(p[nonzero] * np.log(p[nonzero] / q[nonzero]))))
    return np.array(divergences)


def test_entropy_equals_the_reference_loop_on_a_histogram():
    x = np.abs(gaussian_with_outliers())
    counts, _ = np.histogram(x, bins=400, range=(0, x.max()))
    ours, reference = entropy_divergences(counts), reference_entropy(counts)
    finite = np.isfinite(reference)
    assert np.array_equal(finite, np.isfinite(ours))
    np.testing.assert_allclose(ours[finite], reference[finite], rtol=1e-9, atol=1e-12)


def test_entropy_threshold_on_gaussian_with_outliers_is_below_the_max():
    x = gaussian_with_outliers()
    stats = stats_of(x)
    amax = symmetric_amax(stats, "entropy")
    assert 2.5 < amax < 0.5 * stats.amax
    counts, edges = stats.abs_histogram()
    assert amax == entropy_amax(counts, edges)
    assert amax in edges  # amax = edges[i] of the last least-divergent candidate


def test_entropy_keeps_the_whole_range_of_a_uniform_distribution():
    x = np.random.default_rng(1).uniform(-4.0, 4.0, 400_000)
    assert symmetric_amax(stats_of(x), "entropy") > 0.95 * 4.0


def test_minmax_is_the_largest_magnitude():
    x = np.array([-7.5, 0.25, 3.0])
    assert symmetric_amax(stats_of(x), "minmax") == 7.5
    assert asymmetric_range(stats_of(x), "minmax") == (-7.5, 3.0)


def test_percentile_matches_the_quantile_to_a_bin():
    x = np.random.default_rng(2).standard_normal(500_000)
    stats = stats_of(x)
    amax = symmetric_amax(stats, "percentile", 99.0)
    width = stats.amax / BINS
    assert abs(amax - np.quantile(np.abs(x), 0.99)) <= width
    assert percentile_amax(*stats.abs_histogram(), 100.0) == pytest.approx(stats.amax)


def test_asymmetric_percentile_clips_both_tails():
    x = np.random.default_rng(3).normal(1.0, 1.0, 500_000)
    stats = stats_of(x)
    width = stats.amax / BINS
    low, high = asymmetric_range(stats, "percentile", 99.9)  # 0.1 % clipped at each end
    assert abs(low - np.quantile(x, 0.001)) <= width and low > x.min()
    assert abs(high - np.quantile(x, 0.999)) <= width and high < x.max()


def test_mse_picks_the_brute_force_optimum():
    x = np.random.default_rng(4).laplace(size=200_000)
    stats = stats_of(x)
    amax = symmetric_amax(stats, "mse")
    candidates = np.linspace(0.3, 1.0, 120) * stats.amax
    errors = [np.mean((fake_quant_symmetric(x, a) - x) ** 2) for a in candidates]
    best = candidates[int(np.argmin(errors))]
    chosen_error = np.mean((fake_quant_symmetric(x, amax) - x) ** 2)
    assert chosen_error <= 1.02 * min(errors)
    assert abs(amax - best) < 0.1 * stats.amax
    assert amax < 0.8 * stats.amax  # a heavy tail is clipped


def test_mse_amax_on_the_histogram_is_a_bin_centre():
    counts, edges = stats_of(np.random.default_rng(5).standard_normal(10_000)).abs_histogram()
    centres = (edges[1:] + edges[:-1]) / 2
    assert mse_amax(counts, edges) in centres[128:]


def test_asymmetric_mse_clips_a_long_tail_near_the_brute_force_optimum():
    x = np.random.default_rng(6).exponential(size=200_000)

    def error(high: float) -> float:
        params = asymmetric_params(0.0, high, "uint8")
        dequantized = (quantize_array(x, params).astype(np.float64) - params.zero_point) * params.scale
        return float(np.mean((dequantized - x) ** 2))

    low, high = asymmetric_range(stats_of(x), "mse")
    candidates = np.linspace(0.3, 1.0, 141) * x.max()
    best = min(error(c) for c in candidates)
    assert low == 0.0 and high < x.max()
    assert error(high) <= 1.05 * best


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown calibration method"):
        symmetric_amax(stats_of(np.ones(3) * np.arange(3)), "kl")
    assert METHODS == ("minmax", "percentile", "entropy", "mse")


def test_symmetric_parameters_use_amax_over_127_and_zero_point_0():
    params = symmetric_params(symmetric_scale(np.array([1.0, 12.7])), axis=0)
    np.testing.assert_allclose(params.scale, [1 / 127, 0.1], rtol=1e-7)
    assert params.scale.dtype == np.float32 and params.zero_point.dtype == np.int8
    assert not params.zero_point.any() and params.axis == 0


def test_asymmetric_parameters_make_zero_exact():
    params = asymmetric_params(-1.8, 0.5, "uint8")
    assert params.dtype == np.uint8
    zero = quantize_array(np.zeros(1, np.float32), params)
    assert (zero.astype(np.float32) - params.zero_point) * params.scale == 0.0
    relu = asymmetric_params(0.0, 6.0, "int8")
    assert int(relu.zero_point) == -128 and float(relu.scale) == pytest.approx(6.0 / 255)


def test_power_of_two_scales_are_powers_of_two_and_pick_the_smaller_error():
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((16, 64)) * rng.uniform(0.01, 3.0, (16, 1))
    amax = np.abs(rows).max(axis=1)
    scales = power_of_two_scale(amax, rows)
    exponents = np.log2(scales)
    np.testing.assert_array_equal(exponents, np.round(exponents))
    for row, a, scale in zip(rows, amax, scales, strict=True):
        upper = 2.0 ** np.ceil(np.log2(a / 127))
        assert scale in (upper, upper / 2)
        error = lambda s, r=row: np.sum((np.clip(np.round(r / s), -127, 127) * s - r) ** 2)  # noqa: E731
        assert error(scale) <= min(error(upper), error(upper / 2))


def test_power_of_two_needs_a_symmetric_scheme():
    with pytest.raises(ValueError, match="symmetric"):
        QuantScheme(symmetric=False, power_of_two=True)
    with pytest.raises(ValueError, match="int8"):
        QuantScheme(activation_dtype="uint8")
