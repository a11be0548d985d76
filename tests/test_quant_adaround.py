"""AdaRound (learned rounding) of int8 weights: edgec.quantization.adaround, edgec.quantization.rounding,
and ``--reconstruct {gptq,adaround,off}``. Every error here is measured on samples that did not fit
the rounding."""

from __future__ import annotations

import numpy as np
import pytest
from quant_models import digits_int8_report
from test_quant_rounding import correlated_data, small_cnn

from edgec.metrics import compare_outputs
from edgec.quantization import CalibrationConfig, calibrate, quantize_qdq, run_dataset
from edgec.quantization.adaround import AdaRoundSettings, learn_rounding
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.learned_rounding import adaround_round, adaround_rounding
from edgec.quantization.rounding import RoundingSettings, gptq_round


def output_error(w: np.ndarray, q: np.ndarray, gram: np.ndarray) -> float:
    """``sum tr((q - w) H (q - w)^T)``: the squared output error of ``q`` in place of ``w``."""
    delta = q - w
    return float(np.einsum("grc,grc->", delta @ gram, delta))


def _depthwise_inputs(rng: np.random.Generator, groups: int, count: int) -> np.ndarray:
    """3x3 patches [groups, count, 9] whose pixels share one component: strongly correlated inputs."""
    return rng.standard_normal((groups, count, 1)) + 0.3 * rng.standard_normal((groups, count, 9))


def _grids(w: np.ndarray, steps: float) -> np.ndarray:
    return np.abs(w).max(axis=2) / steps  # [groups, rows]: a coarse grid, so rounding matters


def test_learned_rounding_beats_nearest_and_gptq_on_held_out_depthwise_patches():
    """Depthwise 3x3 layers have 9 inputs per channel: GPTQ's greedy column order leaves the last
    columns' errors uncompensated, which a joint optimisation of all roundings need not."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 1, 9))
    scales = _grids(w, 6.0)
    fit, held = _depthwise_inputs(rng, 256, 256), _depthwise_inputs(rng, 256, 4096)
    hessian = 2.0 * fit.transpose(0, 2, 1) @ fit
    gram_held = held.transpose(0, 2, 1) @ held / held.shape[1]
    s = scales[:, :, None]
    nearest = np.round(w / s) * s
    gptq = gptq_round(w, hessian, scales, RoundingSettings()) * s
    gram = hessian / (2.0 * fit.shape[1])
    learned = adaround_round(w, gram, scales, AdaRoundSettings()) * s
    errors = {name: output_error(w, q, gram_held) for name, q in [("nearest", nearest), ("gptq", gptq)]}
    learned_error = output_error(w, learned, gram_held)
    assert learned_error < errors["gptq"] < errors["nearest"]


def test_learned_rounding_only_moves_weights_to_a_neighbouring_grid_value():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 8, 16))
    lower, upper = np.floor(w * 4) / 4, np.floor(w * 4) / 4 + 0.25
    x = rng.standard_normal((2, 64, 16))
    up = learn_rounding(w, x.transpose(0, 2, 1) @ x / 64, lower, upper, AdaRoundSettings(iterations=50))
    assert up.shape == w.shape and up.dtype == bool
    assert 0 < up.mean() < 1


def test_without_the_regularizer_annealing_the_rounding_is_no_better_than_nearest_on_average():
    """The regularizer is what makes the soft solution a rounding: with it turned off (lambda 0), the
    threshold at 0.5 of a continuous optimum is not a good rounding; with it, the error falls."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((256, 1, 9))
    scales = _grids(w, 6.0)
    fit, held = _depthwise_inputs(rng, 256, 256), _depthwise_inputs(rng, 256, 4096)
    gram_held = held.transpose(0, 2, 1) @ held / held.shape[1]
    s = scales[:, :, None]
    gram = fit.transpose(0, 2, 1) @ fit / fit.shape[1]
    loose = adaround_round(w, gram, scales, AdaRoundSettings(regularization=0.0)) * s
    annealed = adaround_round(w, gram, scales, AdaRoundSettings()) * s
    assert output_error(w, annealed, gram_held) < output_error(w, loose, gram_held)


def test_adaround_weights_raise_the_held_out_snr_of_the_qdq_model_over_nearest():
    graph = small_cnn()
    data, held = correlated_data(graph), correlated_data(graph, count=64, seed=1)
    calibration = calibrate(graph, data, CalibrationConfig(method="minmax"))
    rounded = adaround_rounding(graph, data)
    assert rounded and all(ints.dtype == np.int8 for ints in rounded.values())
    assert all(np.abs(ints).max() <= 127 for ints in rounded.values())
    assert calibration.config.reconstruct == "off"
    reference = run_dataset(graph, held)
    output = graph.outputs[0].name
    learned = compare_outputs(reference, run_dataset(quantize_qdq(graph, rounded=rounded), held))
    nearest = compare_outputs(reference, run_dataset(quantize_qdq(graph), held))
    assert learned.outputs[output].snr_db > nearest.outputs[output].snr_db


def test_digits_int8_with_adaround_reports_it_and_loses_at_most_half_a_point(tmp_path):
    report = digits_int8_report(tmp_path, "--reconstruct", "adaround")
    quantization = report["quantization"]
    assert quantization["reconstruction"]["rounding"] == "adaround"
    assert {row["rounding"] for row in report["weight_quantization"]} <= {"AdaRound", "nearest"}
    assert any(row["rounding"] == "AdaRound" for row in report["weight_quantization"])
    assert quantization["reconstruction"]["layers"] > 0
    metrics = quantization["metrics"]["outputs"]["logits"]
    assert metrics["reference_accuracy"] - metrics["accuracy"] <= 0.5


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["--reconstruct"], "gptq"),
        (["--reconstruct", "adaround"], "adaround"),
        (["--reconstruct", "off"], "off"),
        (["--no-reconstruct"], "off"),
    ],
)
def test_reconstruct_flag_keeps_its_old_spellings(argv, expected):
    import argparse

    from edgec.quantization.options import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(argv).reconstruct == expected


def test_boolean_reconstruct_is_refused_with_its_new_spelling():
    with pytest.raises(ValueError, match="True is now 'gptq'"):
        QuantizationOptions(reconstruct=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gptq, adaround, off"):
        CalibrationConfig(reconstruct="learned")
