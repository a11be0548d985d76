"""SNPE's quantization rules (REFERENCE B3) and the simulated uint8 EfficientNet-Lite0 (the engine with
SNPE_SCHEME) on natural images (tests/natural_inputs.py: calibration and held-apart photographs differ)."""

from __future__ import annotations

import numpy as np
import pytest
from natural_inputs import calibration_inputs, held_out_inputs

from edgec.backends.snpe import simulate
from edgec.backends.snpe.backend import top1_agreement
from edgec.frontend import load_model
from edgec.ir.onnx_export import to_onnx
from edgec.passes import make_spec, run_passes
from edgec.runtime import run, session

HELD_APART_CROPS = 105


def test_reference_example():
    enc = simulate.encoding(-1.8, 0.5)
    assert (enc.min, enc.max, enc.scale) == pytest.approx((-1.803922, 0.496078, 0.009020), abs=1e-6)
    assert simulate.quantize(np.array([-1.8, -1.0, 0.0, 0.5]), enc).tolist() == [0, 89, 200, 255]


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 0.0), (0.3, 0.3), (-5.0, -4.0), (2.0, 7.5), (-1e-5, 1e-5)])
def test_encodings_hold_zero_exactly_and_span_at_least_the_minimum(lo, hi):
    enc = simulate.encoding(lo, hi)
    assert enc.max - enc.min >= simulate.MIN_RANGE - 1e-9
    assert enc.min <= min(lo, 0.0) + enc.scale and enc.max >= max(hi, 0.0) - enc.scale
    assert simulate.dequantize(simulate.quantize(np.zeros(1), enc), enc)[0] == 0.0


def test_per_channel_weights_are_symmetric_per_output_channel():
    w = np.stack([np.linspace(-1, 1, 9), np.linspace(-100, 50, 9)]).astype(np.float32).reshape(2, 1, 3, 3)
    q = simulate.per_channel_symmetric(w, axis=0)
    for channel in range(2):
        step = np.abs(w[channel]).max() / 127
        np.testing.assert_allclose(q[channel], np.round(w[channel] / step) * step, rtol=1e-5, atol=1e-6)


def test_simulated_uint8_efficientnet_agrees_with_fp32_on_top1(shared_models):
    graph = load_model(shared_models / "efficientnet_lite0.onnx", {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("snpe-ready")])
    model = "efficientnet_lite0.onnx"
    calibration = [{"input": x[None]} for x in calibration_inputs(model, 16)]
    held_apart = [{"input": x[None]} for x in held_out_inputs(model, HELD_APART_CROPS)]
    simulated = simulate.simulate(graph, calibration, weight_bits=8, act_bits=8)
    fp32 = session(to_onnx(graph))
    agreement = top1_agreement(lambda feeds: run(fp32, feeds), simulated, held_apart)
    assert agreement["logits"] >= 0.9, agreement
