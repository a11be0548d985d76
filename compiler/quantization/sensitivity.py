"""Per-layer sensitivity and mixed precision under an accuracy budget.

Sensitivity quantizes one layer at a time (every other layer in float) and
measures the outputs against the float model; the layers whose own
quantization costs the most signal-to-noise ratio come first. Mixed
precision then keeps layers in float in that order, one more at a time,
until every budget is met or the limit of float layers is reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.budget import Budget, unmet
from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node
from edgec.metrics import Metrics
from edgec.quantization.evaluation import evaluate
from edgec.quantization.qdq import quantize_qdq
from edgec.quantization.scheme import Placement


@dataclass(frozen=True)
class LayerSensitivity:
    """The outputs' quality (worst output) with only ``layer`` quantized."""

    layer: str
    op: str
    snr_db: float
    cosine: float
    top1: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "op": self.op,
            "snr_db": _rounded(self.snr_db),
            "cosine": _rounded(self.cosine),
            "top1": _rounded(self.top1),
        }


def _rounded(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(f"{value:.6g}")


@dataclass
class MixedPrecision:
    float_layers: list[str]
    qdq: Graph
    metrics: Metrics
    met: bool


def layer_sensitivity(
    graph: Graph,
    layers: Sequence[Node],
    dataset: Dataset,
    reference: Mapping[str, np.ndarray],
    placement: Placement = "tensorrt",
    biases: Mapping[str, np.ndarray] | None = None,
    rounded: Mapping[str, np.ndarray] | None = None,
    always_float: Sequence[str] = (),
) -> list[LayerSensitivity]:
    """One entry per layer, most sensitive (lowest SNR) first; ties keep graph order.
    ``always_float``: nodes in float in every setting (float islands)."""
    names = [node.name for node in layers]
    table = []
    for node in layers:
        others = [*always_float, *(name for name in names if name != node.name)]
        metrics = evaluate(quantize_qdq(graph, placement, others, biases, rounded), dataset, reference)
        snr, cosine, top1 = metrics.worst("snr_db"), metrics.worst("cosine"), metrics.worst("top1")
        assert snr is not None and cosine is not None
        table.append(LayerSensitivity(node.name, node.op.value, snr, cosine, top1))
    return sorted(table, key=lambda entry: entry.snr_db)


def mixed_precision(
    graph: Graph,
    ranking: Sequence[LayerSensitivity],
    dataset: Dataset,
    reference: Mapping[str, np.ndarray],
    budgets: Sequence[Budget],
    max_float_layers: int,
    placement: Placement = "tensorrt",
    biases: Mapping[str, np.ndarray] | None = None,
    rounded: Mapping[str, np.ndarray] | None = None,
    always_float: Sequence[str] = (),
) -> MixedPrecision | None:
    """Keep the first layers of ``ranking`` in float, one more at a time, until ``budgets`` are met.

    Returns the first setting that meets them, or the last one tried (with
    ``met`` False); None when no layer may stay in float. ``always_float``
    (float islands) come first in every setting's float layers.
    """
    result = None
    float_layers: list[str] = list(always_float)
    for entry in ranking[:max_float_layers]:
        float_layers.append(entry.layer)
        qdq = quantize_qdq(graph, placement, float_layers, biases, rounded)
        metrics = evaluate(qdq, dataset, reference)
        result = MixedPrecision(list(float_layers), qdq, metrics, not unmet(budgets, metrics))
        if result.met:
            break
    return result
