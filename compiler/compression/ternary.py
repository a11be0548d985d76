"""Ternary weights (experimental precision): each layer's weights in {-a_n, 0, +a_p}.

Following Trained Ternary Quantization's form with Ternary Weight Networks'
threshold: weights with |w| <= ``threshold`` * mean|w| become zero, and the
positive and negative scales are the least-squares fits to the weights they
replace (the mean of the positive survivors, of the negative ones). The
weights stay float tensors holding three values, so every backend runs
them; the storage gain (2 bits per weight, or less after Huffman coding)
shows in edgec.compression.huffman's accounting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgec.errors import UsageError
from edgec.ir.graph import Graph
from edgec.ir.weight_matrices import set_weight_matrix, weight_matrix, weighted_layers
from edgec.passes.manager import register


@dataclass(frozen=True)
class TernaryOptions:
    threshold: float = field(
        default=0.7, metadata={"help": "zero band, as a multiple of the layer's mean |w|"}
    )


def ternarize(matrix: np.ndarray, threshold: float) -> tuple[np.ndarray, float, float]:
    """The ternary matrix and its positive and negative scales."""
    delta = threshold * float(np.mean(np.abs(matrix)))
    positive, negative = matrix > delta, matrix < -delta
    scale_p = float(matrix[positive].mean()) if positive.any() else 0.0
    scale_n = float(-matrix[negative].mean()) if negative.any() else 0.0
    ternary = np.where(positive, scale_p, 0.0) - np.where(negative, scale_n, 0.0)
    return ternary.astype(matrix.dtype), scale_p, scale_n


def ternary_report(graph: Graph) -> dict[str, Any]:
    """report.json's ``compression.ternary``: per-layer scales (read from the weights), 2-bit storage."""
    layers = {}
    for node in weighted_layers(graph):
        matrix = weight_matrix(node)
        layers[node.name] = {
            "positive_scale": float(matrix.max(initial=0.0)),
            "negative_scale": float(-matrix.min(initial=0.0)),
        }
    weights = sum(weight_matrix(node).size for node in weighted_layers(graph))
    return {
        "stored_as": "float32 tensors holding three values per layer (the ONNX runs on any runtime)",
        "bits_per_weight": 2,
        "packed_bytes": math.ceil(2 * weights / 8) + 8 * len(layers),
        "packed": "2 bits per weight + two float32 scales per layer (storage.bytes.huffman: entropy-coded)",
        "layers": layers,
    }


@register("ternary", TernaryOptions)
def ternary_weights(graph: Graph, options: TernaryOptions) -> int:
    """Replace each Conv/Gemm/MatMul weight by {-a_n, 0, +a_p} with per-layer fitted scales."""
    if options.threshold < 0:
        raise UsageError(f"pass 'ternary': threshold must be >= 0, got {options.threshold}")
    layers = weighted_layers(graph)
    for node in layers:
        set_weight_matrix(graph, node, ternarize(weight_matrix(node), options.threshold)[0])
    return len(layers)
