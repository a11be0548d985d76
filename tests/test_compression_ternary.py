"""ternary: three values per layer, scales fitted to the weights they replace."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, random_feeds

from edgec.compression.layers import weight_matrix, weighted_layers
from edgec.compression.ternary import ternarize
from edgec.ir import Op
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
