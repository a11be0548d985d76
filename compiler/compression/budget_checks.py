"""The accuracy budget of the compression passes: the quantization engine's ``Budget``s and metrics.

``--max-accuracy-drop METRIC=VALUE`` (edgec.budget) bounds every
compression pass as it bounds int8 builds: the stage measures each pass's
result against the input model with the engine's metrics (top-1/top-5
agreement, cosine, SNR, and labelled accuracy when the data has labels).
Passes that choose under the budget themselves (``prune`` in sensitivity
mode) get it as text (``"top1=1,cosine=0.01"``); they calibrate on
unlabelled data, so they hold an ``accuracy=P`` budget as ``top1=P``: a
model whose top-1 agrees with the reference on all but P% of the samples
cannot lose more than P points of accuracy. A search that chooses on few
samples can hold top-1/top-5 budgets for the upper confidence bound of the
disagreement (``within(..., confident=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edgec.budget import Budget, check_measurable, parse_budget, unmet
from edgec.compression.pass_inputs import Outputs
from edgec.metrics import Metrics, compare_outputs


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


def wilson_upper(rate: float, count: int, z: float = 1.645) -> float:
    """One-sided 95 % Wilson upper bound of a proportion ``rate`` measured on ``count`` samples."""
    if count == 0:
        return 1.0
    centre = rate + z * z / (2 * count)
    half = z * math.sqrt(rate * (1 - rate) / count + z * z / (4 * count * count))
    return min(1.0, (centre + half) / (1 + z * z / count))


def within(budgets: Sequence[Budget], reference: Outputs, outputs: Outputs, confident: bool = False) -> bool:
    """Whether ``outputs`` stay within every budget of ``reference``; UsageError for an unmeasurable one.

    ``confident``: a top-1/top-5 budget must hold for the one-sided 95 %
    upper bound of the disagreement rather than for the rate measured on
    these few samples, so that a choice made on them holds on others.
    """
    measured = metrics(reference, outputs)
    check_measurable(budgets, measured, "the calibration data")
    if unmet(budgets, measured):
        return False
    count = len(outputs) * int(np.asarray(next(iter(outputs[0].values()))).shape[0]) if outputs else 0
    for budget in budgets:
        drop = budget.measure(measured)
        confident_drop = confident and budget.metric in ("top1", "top5") and drop is not None
        if confident_drop and 100.0 * wilson_upper(drop / 100.0, count) > budget.value:
            return False
    return True
