"""Spectral front ends in float at int8 (edgec.quantization.islands): an STFT written as a Conv with
Fourier bases, its real and imaginary halves squared, summed and rooted, read by an encoder Conv and
an LSTM, as in the Silero VAD (small onnx.helper models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgec.frontend import load_model
from edgec.pipeline import BuildOptions, build
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.islands import float_islands

SAMPLES, WINDOW, HOP, BINS, CHANNELS, HIDDEN = 256, 32, 16, 17, 8, 8


def _fourier_bases() -> np.ndarray:
    """[2 * BINS, 1, WINDOW]: cosines then sines of a Hann-windowed DFT."""
    n = np.arange(WINDOW)
    k = np.arange(BINS)[:, None]
    window = np.hanning(WINDOW)
    bases = [np.cos(2 * np.pi * k * n / WINDOW) * window, -np.sin(2 * np.pi * k * n / WINDOW) * window]
    return np.concatenate(bases)[:, None, :].astype(np.float32)


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def spectral_model(spectrum: bool = True) -> onnx.ModelProto:
    """audio [1, SAMPLES] -> STFT magnitude -> Conv + Relu -> LSTM -> last step -> score.
    ``spectrum=False``: the Conv reads the framed audio directly (no power or root)."""
    rng = np.random.default_rng(11)
    inits = [
        _const("bases", _fourier_bases()),
        _const("axis1", np.array([1], np.int64)),
        _const("re_start", np.array([0], np.int64)),
        _const("re_end", np.array([BINS], np.int64)),
        _const("im_start", np.array([BINS], np.int64)),
        _const("im_end", np.array([2 * BINS], np.int64)),
        _const("two", np.array(2.0, np.float32)),
        _const("enc", (rng.standard_normal((CHANNELS, BINS, 3)) * 0.3).astype(np.float32)),
        _const("enc_b", np.zeros(CHANNELS, np.float32)),
        _const("W", (rng.standard_normal((1, 4 * HIDDEN, CHANNELS)) * 0.5).astype(np.float32)),
        _const("R", (rng.standard_normal((1, 4 * HIDDEN, HIDDEN)) * 0.5).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["audio", "axis1"], ["framed_in"]),
        helper.make_node("Conv", ["framed_in", "bases"], ["stft"], strides=[HOP]),
    ]
    if spectrum:
        nodes += [
            helper.make_node("Slice", ["stft", *_slice("re")], ["real"]),
            helper.make_node("Slice", ["stft", *_slice("im")], ["imag"]),
            helper.make_node("Pow", ["real", "two"], ["real2"]),
            helper.make_node("Pow", ["imag", "two"], ["imag2"]),
            helper.make_node("Add", ["real2", "imag2"], ["power"]),
            helper.make_node("Sqrt", ["power"], ["magnitude"]),
        ]
    else:
        nodes.append(helper.make_node("Slice", ["stft", *_slice("re")], ["magnitude"]))
    nodes += [
        helper.make_node("Conv", ["magnitude", "enc", "enc_b"], ["encoded"], pads=[1, 1]),
        helper.make_node("Relu", ["encoded"], ["features"]),
        helper.make_node("Transpose", ["features"], ["steps"], perm=[2, 0, 1]),
        helper.make_node("LSTM", ["steps", "W", "R"], ["", "last"], hidden_size=HIDDEN),
        helper.make_node("ReduceMean", ["last"], ["score"], axes=[2], keepdims=0),
    ]
    audio = helper.make_tensor_value_info("audio", onnx.TensorProto.FLOAT, [1, SAMPLES])
    score = helper.make_tensor_value_info("score", onnx.TensorProto.FLOAT, [1, 1])
    graph = helper.make_graph(nodes, "spectral", [audio], [score], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def _slice(bounds: str) -> list[str]:
    return [f"{bounds}_start", f"{bounds}_end", "axis1"]


def _save(tmp_path: Path, spectrum: bool = True) -> Path:
    path = tmp_path / "spectral.onnx"
    onnx.save(spectral_model(spectrum), path)
    return path


def test_the_transform_and_the_layer_reading_the_magnitude_join_the_island(tmp_path):
    islands = {i.node: i.reason for i in float_islands(load_model(_save(tmp_path)))}
    assert islands["stft"].startswith("transform whose output")
    assert islands["encoded"] == (
        "reads the spectrum 'magnitude' (per-tensor int8 of its input loses the small bins)"
    )
    assert list(islands) == ["stft", "real", "imag", "real2", "imag2", "power", "magnitude", "encoded"]


def test_without_a_power_or_root_no_layer_is_kept_in_float(tmp_path):
    assert float_islands(load_model(_save(tmp_path, spectrum=False))) == []


def _audio(path: Path, seed: int, count: int) -> Path:
    """Tones at random frequencies and amplitudes over noise: magnitudes spread over decades."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES)
    tones = [
        rng.uniform(0.01, 1.0) * np.sin(2 * np.pi * rng.uniform(0.02, 0.45) * t + rng.uniform(0, 6))
        + rng.normal(0, 1e-3, SAMPLES)
        for _ in range(count)
    ]
    np.savez(path, audio=np.asarray(tones, np.float32)[:, None, :])
    return path


@pytest.mark.parametrize("target", ["onnxruntime-cpu", "jetson-agx-orin", "rpi4"])
def test_int8_keeps_the_spectral_front_end_in_float_and_says_so(tmp_path, target):
    result = build(
        BuildOptions(
            model=_save(tmp_path),
            target=target,
            precision="int8",
            output=tmp_path / "out",
            sample_data=_audio(tmp_path / "check.npz", 2, 8),
            quantization=QuantizationOptions(calibration_data=_audio(tmp_path / "cal.npz", 1, 32)),
        )
    )
    islands = result.report["quantization"]["float_islands"]
    assert sum(i["op"] == "Conv" for i in islands) == 2
    assert result.report["accuracy"]["passed"]
