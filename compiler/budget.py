"""The accuracy budget: ``--max-accuracy-drop METRIC=VALUE``, repeatable.

Metrics and what VALUE bounds (worst output counts):

- ``accuracy``: top-1 accuracy lost against the float model, in percentage
  points (needs labels);
- ``top1`` / ``top5``: 100 minus the top-1 / top-5 agreement with the float
  model, in percentage points (class-score outputs only);
- ``cosine``: 1 minus the cosine similarity;
- ``snr``: the lowest acceptable signal-to-noise ratio, in dB.

A build whose quantized model misses a budget, even after keeping its most
sensitive layers in float, fails with ``AccuracyError`` (exit code 7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edgec.errors import UsageError
from edgec.metrics import Metrics

BUDGET_METRICS = {
    "accuracy": "accuracy lost, percentage points (needs labels)",
    "top1": "100 - top-1 agreement, percentage points",
    "top5": "100 - top-5 agreement, percentage points",
    "cosine": "1 - cosine similarity",
    "snr": "lowest signal-to-noise ratio, dB",
}


@dataclass(frozen=True)
class Budget:
    metric: str
    value: float

    def measure(self, metrics: Metrics) -> float | None:
        """The measured quantity VALUE bounds (worst over outputs); None when no output has it."""
        drops = []
        for out in metrics.outputs.values():
            if self.metric == "accuracy" and out.accuracy is not None and out.reference_accuracy is not None:
                drops.append(out.reference_accuracy - out.accuracy)
            elif self.metric in ("top1", "top5") and getattr(out, self.metric) is not None:
                drops.append(100.0 - getattr(out, self.metric))
            elif self.metric == "cosine":
                drops.append(1.0 - out.cosine)
            elif self.metric == "snr":
                drops.append(-out.snr_db)
        if not drops:
            return None
        worst = max(drops)
        return -worst if self.metric == "snr" else worst

    def met(self, metrics: Metrics) -> bool:
        measured = self.measure(metrics)
        if measured is None:
            return False
        return measured >= self.value if self.metric == "snr" else measured <= self.value

    def text(self) -> str:
        return f"{self.metric}={self.value:g}"

    def describe(self, metrics: Metrics) -> str:
        measured = self.measure(metrics)
        shown = "n/a" if measured is None else ("inf" if math.isinf(measured) else f"{measured:.4g}")
        bound = ">=" if self.metric == "snr" else "<="
        return f"{self.metric} {shown} (budget {bound} {self.value:g})"


def parse_budget(text: str) -> Budget:
    """``METRIC=VALUE``, e.g. ``top1=1.0``; UsageError otherwise."""
    metric, sep, value = text.partition("=")
    metric = metric.strip().lower()
    if not sep or metric not in BUDGET_METRICS:
        known = "; ".join(f"{k}: {v}" for k, v in BUDGET_METRICS.items())
        raise UsageError(f"--max-accuracy-drop {text!r}: expected METRIC=VALUE with METRIC one of ({known})")
    try:
        number = float(value)
    except ValueError as exc:
        raise UsageError(f"--max-accuracy-drop {text!r}: {value!r} is not a number") from exc
    if not math.isfinite(number) or (number < 0 and metric != "snr"):
        raise UsageError(f"--max-accuracy-drop {text!r}: the value must be a finite number >= 0")
    return Budget(metric, number)


def check_measurable(budgets: Sequence[Budget], metrics: Metrics, source: str) -> None:
    """UsageError for a budget no output can measure (e.g. accuracy without labels)."""
    for budget in budgets:
        if budget.measure(metrics) is None:
            why = {
                "accuracy": f"the validation data '{source}' has no labels, or no output holds class scores",
                "top1": "no output holds class scores ([batch, classes])",
                "top5": "no output holds scores of at least 5 classes",
            }.get(budget.metric, "no output measures it")
            raise UsageError(f"--max-accuracy-drop {budget.text()}: cannot be measured: {why}")


def unmet(budgets: Sequence[Budget], metrics: Metrics) -> list[Budget]:
    return [budget for budget in budgets if not budget.met(metrics)]
