"""The share of --calibration-data held out to judge the build never calibrates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgec.compression.stage import pass_data
from edgec.data.datasets import Dataset
from edgec.data.samples import random_samples
from edgec.data.split import split_calibration
from edgec.ir.graph import Graph, Layout
from edgec.pipeline import BuildOptions
from edgec.quantization.build import QuantizationOptions, load_datasets


def _graph() -> Graph:
    graph = Graph("g")
    graph.add_input("x", np.float32, (1, 4), Layout.NONE)
    return graph


def _npz(path: Path, count: int) -> Path:
    np.savez(path, x=np.arange(count * 4, dtype=np.float32).reshape(count, 1, 4))
    return path


def _first_values(data) -> list[int]:
    return [int(v) // 4 for v in data.arrays["x"][:, 0, 0]]


@pytest.mark.parametrize(
    ("total", "count", "calibrating", "held"),
    [(40, None, 32, 8), (100, None, 80, 20), (16, None, 8, 8), (40, 20, 20, 8), (100, 60, 60, 15)],
)
def test_the_last_share_is_held_out(tmp_path, total, count, calibrating, held):
    split = split_calibration(_npz(tmp_path / "c.npz", total), _graph().inputs, None, count)
    assert _first_values(split.calibration) == list(range(calibrating))
    assert _first_values(split.held_out) == list(range(calibrating, calibrating + held))
    assert split.report()["held_out"]["indices"] == {"first": calibrating, "last": calibrating + held - 1}


def test_too_few_samples_to_hold_out_calibrate_all_and_validate_on_random_inputs(tmp_path, edgec_log):
    path = _npz(tmp_path / "c.npz", 15)
    assert split_calibration(path, _graph().inputs, None, None) is None
    (record,) = edgec_log.records
    assert record.name == "edgec.data.split" and record.levelname == "WARNING"
    assert "has 15 sample(s): too few to hold out 8 (20 %," in record.getMessage()
    edgec_log.clear()
    assert split_calibration(_npz(tmp_path / "d.npz", 27), _graph().inputs, None, 20) is None
    assert "has fewer than --calibration-samples 20 + 8" in edgec_log.text
    data = load_datasets(_graph(), QuantizationOptions(calibration_data=path))
    assert data.split is None and _first_values(data.calibration) == list(range(15))
    assert data.validation is not None and "random" in data.validation.source


def test_validation_data_means_nothing_is_held_out(tmp_path):
    options = QuantizationOptions(
        calibration_data=_npz(tmp_path / "c.npz", 12), validation_data=tmp_path / "c.npz"
    )
    data = load_datasets(_graph(), options)
    assert data.split is None and len(data.calibration) == 12


def test_random_calibration_differs_from_the_checks_random_inputs():
    data = load_datasets(_graph(), QuantizationOptions(seed=3))
    check = random_samples(_graph().inputs, 8, 3)
    calibrating = {data.calibration.sample(i)["x"].tobytes() for i in range(len(data.calibration))}
    assert not calibrating & {feed["x"].tobytes() for feed in check.samples()}
    assert data.validation is not None and np.array_equal(
        data.validation.sample(0)["x"], check.sample(0)["x"]
    )


def test_compression_refits_never_see_the_held_out_share(tmp_path):
    path = _npz(tmp_path / "c.npz", 40)
    split = split_calibration(path, _graph().inputs, None, None)
    options = BuildOptions(
        model=tmp_path / "m.onnx", target="t", quantization=QuantizationOptions(calibration_data=path)
    )
    assert pass_data(options, Dataset({}, "none"), split)["samples"] == 32
