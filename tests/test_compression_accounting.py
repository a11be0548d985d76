"""accounting: size, MACs and metric before and after each compression pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from compression_models import digits_cnn, digits_graph

from edgec.compression.accounting import agreement, codebook_sizes
from edgec.compression.pass_inputs import run_all
from edgec.compression.stage import Evaluation, run_measured
from edgec.passes import make_spec


def test_each_pass_records_size_macs_and_metric_before_and_after():
    digits = digits_cnn()
    graph = digits_graph()
    feeds = digits.feeds(digits.x_test[:64])
    reference = run_all(graph, feeds)
    calibration = digits.feeds(digits.x_train[:16])
    specs = [make_spec("prune-channels", {"ratio": 0.5}), make_spec("cluster", {"clusters": 4})]
    data = Evaluation(
        feeds, reference, digits.y_test[:64], "digits test", calibration, run_all(graph, calibration)
    )
    records, measured_passes = run_measured(graph, specs, data, (), Path("digits.onnx"))
    entries, measured = measured_passes.entries, measured_passes.measured
    assert [r.spec.name for r in records] == [e["name"] for e in entries] == ["prune-channels", "cluster"]
    channels, cluster = entries
    assert (
        channels["before"]["metric"] == 1.0 and channels["after"]["macs"] <= 0.5 * channels["before"]["macs"]
    )
    assert channels["after"]["weight_bytes"] < 0.6 * channels["before"]["weight_bytes"]
    assert cluster["before"] == channels["after"]
    assert cluster["after"]["macs"] == cluster["before"]["macs"] and cluster["after"]["metric"] < 1.0
    logits = cluster["after"]["metrics"]["outputs"]["logits"]  # the quantization engine's metrics
    assert logits["top1"] == pytest.approx(100 * cluster["after"]["metric"])
    assert logits["accuracy"] < logits["reference_accuracy"] and measured[-1].samples == 64
    assert set(codebook_sizes(graph)) == {"conv1", "conv2", "fc1", "fc2"}
    assert 0 < cluster["after"]["calibration_metric"] < 1.0  # on the calibration samples, beside


def test_agreement_is_top1_for_logits_and_cosine_otherwise():
    logits = [{"y": np.array([[0.1, 0.9]])}, {"y": np.array([[0.8, 0.2]])}]
    flipped = [{"y": np.array([[0.9, 0.1]])}, {"y": np.array([[0.7, 0.3]])}]
    assert agreement(logits, flipped) == 0.5
    maps = [{"y": np.ones((1, 3, 2, 2))}]
    assert agreement(maps, [{"y": 2 * np.ones((1, 3, 2, 2))}]) == pytest.approx(1.0)
    assert agreement(maps, [{"y": -np.ones((1, 3, 2, 2))}]) == pytest.approx(-1.0)
