"""Huffman coding, storage stages, the compressed weights file and its decoder; Deep Compression on digits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from compression_models import digits_cnn, digits_graph, graph_accuracy, write_calibration

from edgec.compression.huffman import (
    canonical_codes,
    code_lengths,
    encode_weights,
    row_axis,
    stage_bytes,
    storage_report,
    streams,
)
from edgec.ir.weight_matrices import weighted_layers
from edgec.passes import make_spec, run_passes
from edgec.templating import render


def test_code_lengths_are_optimal_and_prefix_free():
    counts = np.array([45, 13, 12, 16, 9, 5, 0])
    lengths = code_lengths(counts)
    assert lengths.tolist() == [1, 3, 3, 3, 4, 4, 0]  # the textbook example
    assert sum(2.0 ** -lengths[lengths > 0]) == 1.0
    codes = canonical_codes(lengths)
    words = [format(int(codes[s]), f"0{lengths[s]}b") for s in np.flatnonzero(lengths)]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_stages_shrink_for_a_sparse_clustered_weight():
    rng = np.random.default_rng(0)
    weight = rng.choice(np.linspace(-1, 1, 16).astype(np.float32), size=(64, 64))
    weight[rng.random(weight.shape) < 0.9] = 0
    stages = stage_bytes(weight)
    assert stages["fp32"] == 4 * 64 * 64
    assert stages["fp32"] > stages["pruned"] > stages["clustered"] > stages["huffman"]


@pytest.mark.parametrize("codebook", ["layer", "channel"])
def test_the_decoder_in_the_bundle_reads_back_every_weight(tmp_path, codebook):
    graph = digits_graph()
    cluster = make_spec("cluster", {"clusters": 8, "codebook": codebook})
    run_passes(graph, [make_spec("prune", {"sparsity": 0.7}), cluster])
    weights = graph.nodes[0].inputs[1]
    weights.data = weights.data + np.float32(0.001) * np.arange(weights.size, dtype=np.float32).reshape(
        weights.shape
    )
    (tmp_path / "weights.huf").write_bytes(encode_weights(graph))
    script = tmp_path / "decode_weights.py"
    script.write_text(render("compression/decode_weights.py.j2", weights_file="weights.huf", version="test"))
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True)
    decoded = np.load(tmp_path / "decoded_weights.npz")
    for node in weighted_layers(graph):
        np.testing.assert_array_equal(decoded[node.inputs[1].name], node.inputs[1].data)
    per_row = [
        n.name for n in weighted_layers(graph) if streams(n.const_input(1), 4, row_axis(n)).row_sizes.size
    ]
    assert per_row == ([] if codebook == "layer" else ["conv2", "fc1", "fc2"])


def test_per_channel_codebooks_are_counted_value_by_value():
    rng = np.random.default_rng(0)
    scales = np.exp(rng.normal(0, 2, 64))[:, None]
    weight = (scales * rng.choice(np.linspace(-1, 1, 16), size=(64, 256))).astype(np.float32)
    coded = streams(weight, 4)
    assert coded.row_sizes.tolist() == [16] * 64 and coded.codebook.size == 64 * 16
    stages = stage_bytes(weight)
    # the codebooks, their sizes, and a 5-bit index per weight (16 values and zero)
    assert stages["clustered"] == 64 * 16 * 4 + 64 * 2 + 64 * 256 * 5 // 8
    assert stages["huffman"] > 64 * 16 * 4 + 64 * 2


def test_deep_compression_on_digits_is_20x_smaller_within_one_point_on_the_test_split(tmp_path):
    digits = digits_cnn()
    calibration = write_calibration(
        digits, tmp_path / "calib.npz", len(digits.x_train)
    )  # never the test split
    graph = digits_graph()
    baseline = graph_accuracy(graph, digits)
    data = {"reconstruct": True, "calibration": str(calibration), "samples": len(digits.x_train)}
    prune = make_spec("prune", {"sparsity": 0.8, "mode": "global", **data})
    run_passes(graph, [prune, make_spec("cluster", {"clusters": 16, **data})])
    report = storage_report(graph)
    accuracy = graph_accuracy(graph, digits)
    print(f"digits: {report['bytes']}, {report['ratio']}x, accuracy {baseline:.4f} -> {accuracy:.4f}")
    assert report["ratio"] >= 20
    assert accuracy >= baseline - 0.01
