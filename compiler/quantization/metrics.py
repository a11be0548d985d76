"""How far a quantized model is from the float one, per output, over a data set.

Per output, over all samples together:

- ``cosine``: cosine similarity of the flattened outputs;
- ``snr_db``: ``10 log10(sum(ref^2) / sum((ref - out)^2))``; None (in JSON)
  when the outputs are identical;
- ``max_abs``: largest absolute difference;
- for class-score outputs (``[batch, classes]``, at least 2 classes):
  ``top1`` agreement (% of rows whose arg-max matches the float model's),
  ``top5`` agreement (% of rows where the float model's class is among the
  quantized model's five best; at least 5 classes), and with labels
  ``accuracy`` and ``reference_accuracy`` (% top-1 correct).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.quantization.collect import progress_bar
from edgec.quantization.data import Dataset
from edgec.runtime import run, session

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class OutputMetrics:
    cosine: float
    snr_db: float
    max_abs: float
    top1: float | None = None
    top5: float | None = None
    accuracy: float | None = None
    reference_accuracy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {k: _json_number(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Metrics:
    outputs: dict[str, OutputMetrics]
    samples: int

    def worst(self, name: str) -> float | None:
        """The worst value of metric ``name`` over the outputs that have it (lowest; max_abs: highest)."""
        values = [getattr(m, name) for m in self.outputs.values() if getattr(m, name) is not None]
        if not values:
            return None
        return max(values) if name == "max_abs" else min(values)

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "outputs": {k: m.as_dict() for k, m in self.outputs.items()}}


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def run_dataset(graph: Graph, dataset: Dataset, description: str = "evaluating") -> Outputs:
    """Run ``graph`` on every sample, as an exact simulation (no ONNX Runtime rewrites of Q/DQ pairs)."""
    sess = session(to_onnx(graph), optimize=False)
    collected: dict[str, list[np.ndarray]] = {}
    with progress_bar(len(dataset), description) as bar:
        for feeds in dataset.samples():
            for name, array in run(sess, feeds).items():
                collected.setdefault(name, []).append(array)
            bar.update(1)
    return {name: np.stack(arrays) for name, arrays in collected.items()}


def _class_rows(array: np.ndarray) -> np.ndarray | None:
    """``[N, batch, classes]`` -> ``[N * batch, classes]``; None when not class scores (floats)."""
    if array.ndim != 3 or array.shape[-1] < 2 or not np.issubdtype(array.dtype, np.floating):
        return None
    return array.reshape(-1, array.shape[-1])


def _output_metrics(ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None) -> OutputMetrics:
    a, b = ref.astype(np.float64).ravel(), out.astype(np.float64).ravel()
    noise = float(np.sum((a - b) ** 2))
    signal = float(np.sum(a**2))
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(a @ b / norms) if norms > 0 else float(np.array_equal(a, b))
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    ref_rows, out_rows = _class_rows(ref), _class_rows(out)
    if ref_rows is None or out_rows is None:
        return OutputMetrics(cosine, snr, max_abs)
    ref_top, out_top = ref_rows.argmax(axis=1), out_rows.argmax(axis=1)
    top1 = 100.0 * float(np.mean(ref_top == out_top))
    top5 = None
    if out_rows.shape[1] >= 5:
        best5 = np.argsort(-out_rows, axis=1, kind="stable")[:, :5]
        top5 = 100.0 * float(np.mean((best5 == ref_top[:, None]).any(axis=1)))
    accuracy = reference_accuracy = None
    if labels is not None and labels.size == len(out_top):
        flat = labels.reshape(-1)
        accuracy = 100.0 * float(np.mean(out_top == flat))
        reference_accuracy = 100.0 * float(np.mean(ref_top == flat))
    return OutputMetrics(cosine, snr, max_abs, top1, top5, accuracy, reference_accuracy)


def compare_outputs(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], labels: np.ndarray | None = None
) -> Metrics:
    """Metrics of ``candidate`` against ``reference`` (both stacked over the same samples)."""
    outputs = {name: _output_metrics(ref, candidate[name], labels) for name, ref in reference.items()}
    samples = len(next(iter(reference.values()))) if reference else 0
    return Metrics(outputs, samples)


def evaluate(graph: Graph, dataset: Dataset, reference: Mapping[str, np.ndarray]) -> Metrics:
    """Run ``graph`` (e.g. a Q/DQ model) on ``dataset`` and compare with the float ``reference`` outputs."""
    return compare_outputs(reference, run_dataset(graph, dataset), dataset.labels)
