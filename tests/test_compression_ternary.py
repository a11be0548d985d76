"""ternary: three values per layer, scales fitted to the weights they replace; ``--precision ternary``."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from compression_models import digits_cnn, write_digits_model
from helpers import Builder, random_feeds
from onnx import numpy_helper

from edgec.cli import main
from edgec.compression.ternary import ternarize
from edgec.ir import Op
from edgec.ir.weight_matrices import weight_matrix, weighted_layers
from edgec.passes import make_spec, run_passes
from edgec.runtime import run_graph


def test_scales_are_the_means_of_the_weights_they_replace():
    matrix = np.array([[1.0, 3.0, -0.1, -2.0], [0.05, -4.0, 0.2, 2.0]], dtype=np.float32)
    ternary, positive, negative = ternarize(matrix, 0.7)  # threshold 0.7 * mean|w| = 1.08
    assert positive == pytest.approx(2.5) and negative == pytest.approx(3.0)
    assert ternary.tolist() == [[0.0, 2.5, 0.0, -3.0], [0.0, -3.0, 0.0, 2.5]]


def test_every_layer_holds_at_most_three_values_and_runs():
    b = Builder()
    x = b.input("x", (1, 3, 5, 5))
    flat = b.node(Op.FLATTEN, [b.node(Op.RELU, [b.conv(x, 4)])], shape=(1, 100), axis=1)
    graph = b.output(b.gemm(flat, 7))
    assert run_passes(graph, [make_spec("ternary")])[0].rewrites == 2
    for node in weighted_layers(graph):
        assert len(np.unique(weight_matrix(node))) <= 3
    assert run_graph(graph, random_feeds(graph))[graph.outputs[0].name].shape == (1, 7)


def test_ternary_precision_builds_on_onnxruntime_with_its_storage_in_the_report(tmp_path):
    digits = digits_cnn()
    model = write_digits_model(digits, tmp_path / "digits.onnx")
    np.savez(tmp_path / "validation.npz", image=digits.x_test[:, None], labels=digits.y_test)
    out = tmp_path / "bundle"
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out), "--precision", "ternary"]
    assert main([*argv, "--validation-data", str(tmp_path / "validation.npz")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["precision"] == "ternary" and report["accuracy"]["passed"]  # against the ternary graph
    compression = report["compression"]
    (entry,) = compression["passes"]
    logits = entry["after"]["metrics"]["outputs"]["logits"]
    assert entry["name"] == "ternary" and logits["reference_accuracy"] - logits["accuracy"] < 6
    ternary = compression["ternary"]
    weights = compression["storage"]["bytes"]["fp32"] // 4  # the layers' weights, fp32
    assert ternary["packed_bytes"] == -(-2 * weights // 8) + 8 * 4  # 2 bits per weight + 2 scales x 4 layers
    assert compression["storage"]["bytes"]["huffman"] < ternary["packed_bytes"]
    stored = onnx.load(out / "model.onnx").graph
    initializers = {t.name: numpy_helper.to_array(t) for t in stored.initializer}
    layers = {
        node.name: initializers[node.input[1]] for node in stored.node if node.op_type in ("Conv", "Gemm")
    }
    assert set(layers) == set(ternary["layers"]) == {"conv1", "conv2", "fc1", "fc2"}
    for name, values in layers.items():
        scales = ternary["layers"][name]
        allowed = {0.0, np.float32(scales["positive_scale"]), -np.float32(scales["negative_scale"])}
        assert set(np.unique(values).tolist()) <= allowed
    budget = [
        "--force",
        "--validation-data",
        str(tmp_path / "validation.npz"),
        "--max-accuracy-drop",
        "accuracy=1",
    ]
    assert main([*argv, *budget]) == 7  # ternary loses more than 1 point: the budget stops it


def test_ternary_is_refused_where_the_backend_cannot_carry_it(tmp_path, capsys):
    model = write_digits_model(digits_cnn(), tmp_path / "digits.onnx")
    assert main(["build", str(model), "-t", "rpi4", "--precision", "ternary", "-o", str(tmp_path / "b")]) != 0
    assert "ternary" in capsys.readouterr().err
