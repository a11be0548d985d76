"""The accuracy budget of the compression passes: the quantization engine's ``Budget``s and metrics.

``--max-accuracy-drop METRIC=VALUE`` (edgec.quantization.gate) bounds every
compression pass as it bounds int8 builds: the stage measures each pass's
result against the input model with the engine's metrics (top-1/top-5
agreement, cosine, SNR, and labelled accuracy when the data has labels).
Passes that choose under the budget themselves (``prune`` in sensitivity
mode) get it as text (``"top1=1,cosine=0.01"``); they calibrate on
unlabelled data, so they hold an ``accuracy=P`` budget as ``top1=P``: a
model whose top-1 agrees with the reference on all but P% of the samples
cannot lose more than P points of accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgec.compression.calibration import Outputs
from edgec.quantization.gate import Budget, check_measurable, parse_budget, unmet
from edgec.quantization.metrics import Metrics, compare_outputs


def stacked(outputs: Outputs) -> dict[str, np.ndarray]:
    """Per-sample outputs -> ``[N, *output shape]`` per output, as the engine's metrics take them."""
    return {name: np.stack([item[name] for item in outputs]) for name in outputs[0]} if outputs else {}


def metrics(reference: Outputs, outputs: Outputs, labels: np.ndarray | None = None) -> Metrics:
    ref = stacked(reference)
    got = stacked(outputs)
    return compare_outputs(ref, {name: got[name] for name in ref}, labels)


def without_labels(budgets: Sequence[Budget]) -> tuple[Budget, ...]:
    """``accuracy=P`` becomes ``top1=P`` (its upper bound), for data without labels."""
    return tuple(Budget("top1", b.value) if b.metric == "accuracy" else b for b in budgets)


def budgets_text(budgets: Sequence[Budget]) -> str:
    return ",".join(budget.text() for budget in budgets)


def parse_budgets(text: str) -> tuple[Budget, ...]:
    """``"top1=1,cosine=0.01"`` -> Budgets (accuracy held as top1); UsageError for a malformed one."""
    return without_labels([parse_budget(part) for part in text.split(",") if part.strip()])


def within(budgets: Sequence[Budget], reference: Outputs, outputs: Outputs) -> bool:
    """Whether ``outputs`` stay within every budget of ``reference``; UsageError for an unmeasurable one."""
    measured = metrics(reference, outputs)
    check_measurable(budgets, measured, "the calibration data")
    return not unmet(budgets, measured)
