"""How far one output is from a reference output: the one copy of every measure edgec reports.

- ``cosine``: cosine similarity of the flattened arrays; 1.0 for two
  all-zero arrays, 0.0 when only one is all zero;
- ``snr_db``: ``10 log10(sum(ref^2) / sum((ref - out)^2))``; inf when the
  arrays are identical, -inf when the reference is all zero and they differ;
- ``top_k``: top-1 agreement (% of rows whose arg-max matches the
  reference's) and top-5 agreement (% of rows where the reference's class is
  among the five best; at least 5 classes) of class-score rows;
- ``compare_outputs``: all of these per output over a set of samples, with
  labelled accuracy (``Metrics``), as the quantization engine, the accuracy
  budgets and the compression passes judge them.

The accuracy check (``edgec.accuracy``), the int8 debugger
(``edgec.quantization.debug``), compression's accounting and the per-layer
weight error use these functions; none computes a cosine or SNR of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np


def _flat(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64).ravel()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of ``a`` and ``b`` flattened (in float64)."""
    a, b = _flat(a), _flat(b)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else float(np.array_equal(a, b))


def cosine_from_sums(dot: float, signal: float, other: float, noise: float) -> float:
    """Cosine from running sums: ``a.b``, ``a.a``, ``b.b`` and ``(a-b).(a-b)``."""
    norms = math.sqrt(signal * other)
    return dot / norms if norms > 0 else float(noise == 0)


def snr_from_energy(signal: float, noise: float) -> float:
    """``10 log10(signal / noise)`` in dB; inf without noise, -inf without signal."""
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def snr_db(reference: np.ndarray, output: np.ndarray) -> float:
    """Signal-to-noise ratio of ``output`` against ``reference`` in dB (``snr_from_energy``)."""
    a, b = _flat(reference), _flat(output)
    return snr_from_energy(float(np.sum(a**2)), float(np.sum((a - b) ** 2)))


def top_k(reference_rows: np.ndarray, output_rows: np.ndarray) -> tuple[float, float | None]:
    """Top-1 and top-5 agreement in % of class-score rows ``[rows, classes]``; top-5 None below 5
    classes."""
    reference_top = reference_rows.argmax(axis=1)
    top1 = 100.0 * float(np.mean(output_rows.argmax(axis=1) == reference_top))
    if output_rows.shape[1] < 5:
        return top1, None
    best5 = np.argsort(-output_rows, axis=1, kind="stable")[:, :5]
    return top1, 100.0 * float(np.mean((best5 == reference_top[:, None]).any(axis=1)))


def json_number(value: float | None) -> float | None:
    """Six significant digits; None for None and non-finite values (JSON has no inf)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


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
        return {k: json_number(v) for k, v in asdict(self).items()}


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

    def as_dict(self) -> dict[str, object]:
        return {"samples": self.samples, "outputs": {k: m.as_dict() for k, m in self.outputs.items()}}


def _class_rows(array: np.ndarray) -> np.ndarray | None:
    """``[N, batch, classes]`` -> ``[N * batch, classes]``; None when not class scores (floats)."""
    if array.ndim != 3 or array.shape[-1] < 2 or not np.issubdtype(array.dtype, np.floating):
        return None
    return array.reshape(-1, array.shape[-1])


def _output_metrics(ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None) -> OutputMetrics:
    max_abs = float(np.max(np.abs(_flat(ref) - _flat(out)))) if ref.size else 0.0
    similarity, snr = cosine(ref, out), snr_db(ref, out)
    ref_rows, out_rows = _class_rows(ref), _class_rows(out)
    if ref_rows is None or out_rows is None:
        return OutputMetrics(similarity, snr, max_abs)
    top1, top5 = top_k(ref_rows, out_rows)
    accuracy = reference_accuracy = None
    if labels is not None and labels.size == len(out_rows):
        flat = labels.reshape(-1)
        accuracy = 100.0 * float(np.mean(out_rows.argmax(axis=1) == flat))
        reference_accuracy = 100.0 * float(np.mean(ref_rows.argmax(axis=1) == flat))
    return OutputMetrics(similarity, snr, max_abs, top1, top5, accuracy, reference_accuracy)


def compare_outputs(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], labels: np.ndarray | None = None
) -> Metrics:
    """Metrics of ``candidate`` against ``reference`` (both stacked over the same samples)."""
    outputs = {name: _output_metrics(ref, candidate[name], labels) for name, ref in reference.items()}
    samples = len(next(iter(reference.values()))) if reference else 0
    return Metrics(outputs, samples)
