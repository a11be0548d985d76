"""2:4 structured pruning (``--prune 0.5:2of4``) and what sparsity buys on each target."""

from __future__ import annotations

import json

import numpy as np
import pytest
from compression_models import digits_cnn, digits_graph, graph_accuracy, write_digits_model
from helpers import Builder

from edgec.cli import main
from edgec.compression.sparsity import is_2of4, mask_2of4, sparsity_gain
from edgec.errors import UsageError
from edgec.ir.weight_matrices import weight_matrix, weighted_layers
from edgec.passes import make_spec, run_passes
from edgec.targets import load_catalogue


def test_the_mask_keeps_the_two_largest_of_every_four_input_channels():
    b = Builder()
    x = b.input("x", (1, 6, 5, 5))
    graph = b.output(b.conv(x, 3))
    (conv,) = weighted_layers(graph)
    keep = mask_2of4(conv).reshape(3, 6, 9)  # [out, input channels, kernel positions]
    magnitude = np.abs(weight_matrix(conv)).reshape(3, 6, 9)
    assert (keep[:, :4].sum(axis=1) == 2).all() and (keep[:, 4:].sum(axis=1) == 2).all()
    smallest_kept = np.where(keep[:, :4], magnitude[:, :4], np.inf).min(axis=1)
    largest_dropped = np.where(keep[:, :4], -np.inf, magnitude[:, :4]).max(axis=1)
    assert (smallest_kept >= largest_dropped).all()


def test_2of4_mode_prunes_every_layer_with_four_input_channels_and_keeps_accuracy():
    digits = digits_cnn()
    graph = digits_graph()
    run_passes(graph, [make_spec("prune", {"mode": "2of4"})])
    pattern = {node.name: is_2of4(node) for node in weighted_layers(graph)}
    assert pattern == {"conv1": False, "conv2": True, "fc1": True, "fc2": True}  # conv1 has 1 input channel
    assert graph_accuracy(graph, digits) >= graph_accuracy(digits_graph(), digits) - 0.03
    with pytest.raises(UsageError, match=r"sparsity must be 0\.5"):
        run_passes(digits_graph(), [make_spec("prune", {"mode": "2of4", "sparsity": 0.7})])


@pytest.fixture(scope="module")
def pruned_2of4():
    graph = digits_graph()
    run_passes(graph, [make_spec("prune", {"mode": "2of4"})])
    return graph


@pytest.mark.parametrize(
    ("target", "gain"),
    [
        (
            "jetson-orin-nano",
            "sparse kernels for the 3 2:4 layer(s)",
        ),  # compute capability 8.7, TensorRT 10.3
        ("jetson-xavier-nx", "has no 2:4 sparse tensor cores"),  # 7.2
        ("rpi4", "runs dense kernels only"),
        ("onnxruntime-cpu", "runs dense kernels only"),
    ],
)
def test_the_report_says_what_the_zeros_buy_per_target(pruned_2of4, target, gain):
    entry = sparsity_gain(pruned_2of4, load_catalogue().select(target, None), stored_compressed=False)
    assert entry["layers_2of4"] == ["conv2", "fc1", "fc2"]
    assert gain in entry["latency_gain"]
    assert ("tensorrt_flag" in entry) == (target == "jetson-orin-nano")


def test_unstructured_zeros_buy_tensorrt_nothing():
    graph = digits_graph()
    run_passes(graph, [make_spec("prune", {"sparsity": 0.8})])
    entry = sparsity_gain(graph, load_catalogue().select("jetson-agx-orin", None), stored_compressed=True)
    assert entry["layers_2of4"] == [] and entry["latency_gain"].startswith("none yet")
    assert "weights.huf" in entry["storage_gain"]


def test_build_reports_the_sparsity(tmp_path):
    model = write_digits_model(digits_cnn(), tmp_path / "digits.onnx")
    out = tmp_path / "bundle"
    assert main(["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out), "--prune", "0.5:2of4"]) == 0
    sparsity = json.loads((out / "report.json").read_text())["compression"]["sparsity"]
    assert sparsity["layers_2of4"] == ["conv2", "fc1", "fc2"] and sparsity["density"] < 0.51
    assert sparsity["latency_gain"].startswith("none")
