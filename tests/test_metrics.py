"""edgec.metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from edgec.metrics import (
    compare_outputs,
    cosine,
    cosine_from_sums,
    json_number,
    snr_db,
    snr_from_energy,
    top_k,
)


def test_cosine_by_hand() -> None:
    # (1, 2, 2) . (2, 1, 2) = 8; both norms 3 -> 8 / 9
    assert cosine(np.array([1.0, 2.0, 2.0]), np.array([2.0, 1.0, 2.0])) == pytest.approx(8 / 9, abs=1e-15)
    assert cosine(np.array([[1.0, 0.0]]), np.array([0.0, -3.0])) == 0.0
    assert cosine(np.array([1.0, 1.0]), np.array([-2.0, -2.0])) == pytest.approx(-1.0, abs=1e-15)


def test_cosine_of_zero_arrays() -> None:
    assert cosine(np.zeros(3), np.zeros(3)) == 1.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0


def test_cosine_from_sums_matches_the_arrays() -> None:
    # a = (3, 4), b = (4, 3): a.b = 24, a.a = b.b = 25, (a-b).(a-b) = 2 -> 24 / 25
    assert cosine_from_sums(24.0, 25.0, 25.0, 2.0) == pytest.approx(0.96, abs=1e-15)
    assert cosine_from_sums(0.0, 0.0, 0.0, 0.0) == 1.0
    assert cosine_from_sums(0.0, 0.0, 4.0, 4.0) == 0.0


def test_snr_by_hand() -> None:
    # signal 1 + 9 = 10, noise 0.01 + 0.01 = 0.02 -> 10 log10(500) = 26.9897 dB
    reference, output = np.array([1.0, 3.0]), np.array([1.1, 2.9])
    assert snr_db(reference, output) == pytest.approx(10 * math.log10(500), rel=1e-12)
    assert snr_from_energy(100.0, 1.0) == 20.0


def test_snr_limits() -> None:
    assert snr_db(np.ones(4), np.ones(4)) == math.inf
    assert snr_db(np.zeros(4), np.ones(4)) == -math.inf


def test_top_k_by_hand() -> None:
    reference = np.array([[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]], dtype=np.float64)
    # row 0: same arg-max (5); row 1: reference class 0 is the output's sixth best
    output = np.array([[0, 1, 2, 3, 4, 9], [0, 5, 4, 3, 2, 1]], dtype=np.float64)
    assert top_k(reference, output) == (50.0, 50.0)
    assert top_k(reference[:, :3], output[:, :3]) == (50.0, None)  # row 1: arg-max 1, not 0


def test_compare_outputs_by_hand() -> None:
    reference = {"logits": np.array([[[1.0, 0.0]], [[0.0, 1.0]]]), "map": np.array([[3.0, 4.0], [0.0, 0.0]])}
    candidate = {"logits": np.array([[[0.0, 1.0]], [[0.0, 1.0]]]), "map": np.array([[4.0, 3.0], [0.0, 0.0]])}
    metrics = compare_outputs(reference, candidate, labels=np.array([0, 0]))
    logits, feature = metrics.outputs["logits"], metrics.outputs["map"]
    assert metrics.samples == 2
    assert (logits.top1, logits.top5, logits.accuracy, logits.reference_accuracy) == (50.0, None, 0.0, 50.0)
    assert logits.cosine == pytest.approx(0.5, abs=1e-15)  # dot 1, norms sqrt(2) each
    assert logits.snr_db == pytest.approx(10 * math.log10(2 / 2), abs=1e-12)
    assert feature.cosine == pytest.approx(0.96, abs=1e-15)
    assert feature.snr_db == pytest.approx(10 * math.log10(25 / 2), rel=1e-12)
    assert (feature.max_abs, feature.top1) == (1.0, None)
    assert metrics.worst("cosine") == pytest.approx(0.5, abs=1e-15)
    assert metrics.worst("max_abs") == 1.0


def test_json_number() -> None:
    assert json_number(1 / 3) == 0.333333
    assert json_number(math.inf) is None
    assert json_number(None) is None
