"""The accuracy check after every build: the input model under ONNX Runtime
against the artifact, on the same sample inputs, per output.

Sample inputs are the user's (an .npz keyed by input name, or the share of
``--calibration-data`` held out from calibration) or seeded random data:
floats ~ N(0, 1) clipped to [-3, 3], integers in [0, 2), booleans.

The gate judges aggregates over all the check's samples, per output (the
outputs of every sample concatenated): cosine similarity, signal-to-noise
ratio in dB, and for class scores top-1/top-5 agreement. Class scores: an
output whose per-sample shape is 2-D ``[batch, classes]`` with at least 2
classes (top-5 needs at least 5). Per-sample worst figures are reported, not
gated: one hard sample should not fail a healthy build, and one good sample
should not pass a broken one.

Non-finite values: Inf or NaN in the artifact where the input model's value is
finite fails the check (the count is reported). Positions where the input
model itself gives NaN or Inf agree when the artifact gives the same (NaN
where NaN; Inf of the same sign), else they count as disagreements; the
finite metrics are computed over the remaining positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgec.backend_protocol import Runner
from edgec.data.datasets import Dataset
from edgec.errors import UsageError
from edgec.ir.graph import Value
from edgec.metrics import cosine, snr_db, top_k
from edgec.streaming import StatePair, stream_outputs

# The gate per precision: cosine and top-k at least, SNR (dB) at least. Chosen from principle,
# not from the sets they judge (README "Accuracy check"): fp32 must be exact up to summation order
# (cosine 0.9999 ~ 37 dB of independent noise; 35 dB also catches a 2 % gain error, which cosine
# cannot see); fp16 keeps ~27 dB through a deep network (cosine 0.999); int8's usual "correct"
# line is cosine 0.99 (~17 dB of independent noise), and 15 dB catches gain/offset errors beyond
# ~18 % without gating the same noise twice; top-1 75 % / top-5 90 % for int8 class scores allow
# int8's flips of near-tied classes (peers agree 78.5-93 % top-1 on natural crops, issue 14) and
# the sampling noise of small check sets (2 flips in 8 samples pass), while a broken classifier
# (chance agreement ~1/classes) fails. Float precisions do not gate top-k: a flip at cosine
# >= 0.999 is a near tie.
DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "fp32": {"cosine": 0.9999, "snr": 35.0},
    "fp16": {"cosine": 0.999, "snr": 25.0},
    "int16x8": {"cosine": 0.999, "snr": 25.0},
    "int8": {"cosine": 0.99, "snr": 15.0, "top1": 75.0, "top5": 90.0},
    "int8-dynamic": {"cosine": 0.99, "snr": 15.0, "top1": 75.0, "top5": 90.0},
}
FALLBACK_THRESHOLDS = {"cosine": 0.99, "snr": 15.0}
# The cosine line alone, for the device scripts that compare one sample.
MIN_COSINE = {precision: gate["cosine"] for precision, gate in DEFAULT_THRESHOLDS.items()}
METRICS = {
    "cosine": "cosine similarity over the set, at least",
    "snr": "signal-to-noise ratio over the set in dB, at least",
    "top1": "top-1 agreement in %, at least (class scores)",
    "top5": "top-5 agreement in %, at least (class scores, >= 5 classes)",
}
REPORT_KEYS = {"cosine": "cosine", "snr": "snr_db", "top1": "top1", "top5": "top5"}


@dataclass(frozen=True)
class Threshold:
    """``--accuracy-threshold [OUTPUT:]METRIC=VALUE``; ``output`` None: every output."""

    metric: str
    value: float
    output: str | None = None


def parse_threshold(text: str) -> Threshold:
    """``cosine=0.995``, ``snr=20``, ``top1=95`` or ``OUTPUT:METRIC=VALUE``; UsageError otherwise."""
    left, sep, number = text.rpartition("=")
    output, metric = (None, left.strip().lower())
    if metric not in METRICS and ":" in left:
        head, _, tail = left.rpartition(":")
        output, metric = head, tail.strip().lower()
    if not sep or metric not in METRICS or output == "":
        known = "; ".join(f"{k}: {v}" for k, v in METRICS.items())
        raise UsageError(
            f"--accuracy-threshold {text!r}: expected [OUTPUT:]METRIC=VALUE, METRIC one of ({known})"
        )
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"--accuracy-threshold {text!r}: {number!r} is not a number") from None
    bounds = {"cosine": (-1.0, 1.0), "top1": (0.0, 100.0), "top5": (0.0, 100.0)}.get(metric)
    if not math.isfinite(value) or (bounds and not bounds[0] <= value <= bounds[1]):
        raise UsageError(f"--accuracy-threshold {text!r}: the value must be finite{_range_text(bounds)}")
    return Threshold(metric, value, output)


def _range_text(bounds: tuple[float, float] | None) -> str:
    return f" and within [{bounds[0]:g}, {bounds[1]:g}]" if bounds else ""


def check_threshold_outputs(thresholds: Sequence[Threshold], outputs: Sequence[Value], model: Path) -> None:
    """UsageError for a per-output threshold naming no output of the model (before any work)."""
    names = {value.name for value in outputs}
    for threshold in thresholds:
        if threshold.output is not None and threshold.output not in names:
            raise UsageError(
                f"--accuracy-threshold: {model.name} has no output {threshold.output!r}; "
                f"its outputs: {', '.join(repr(n) for n in sorted(names))}"
            )


def gate(precision: str, thresholds: Sequence[Threshold], output: str) -> dict[str, float]:
    """The thresholds that apply to ``output``: the precision's, then global, then per-output overrides."""
    found = dict(DEFAULT_THRESHOLDS.get(precision, FALLBACK_THRESHOLDS))
    for threshold in sorted(thresholds, key=lambda t: t.output is not None):
        if threshold.output in (None, output):
            found[threshold.metric] = threshold.value
    return found


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _nonfinite(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The positions where both are finite, and the non-finite counts."""
    ref_finite, out_finite = np.isfinite(a), np.isfinite(b)
    same = (np.isnan(a) & np.isnan(b)) | (a == b)
    counts = {
        "artifact_nonfinite_where_reference_finite": int(np.sum(ref_finite & ~out_finite)),
        "reference_nonfinite": int(np.sum(~ref_finite)),
        "reference_nonfinite_disagreeing": int(np.sum(~ref_finite & ~same)),
    }
    return ref_finite & out_finite, counts


def _top_k(refs: list[np.ndarray], outs: list[np.ndarray]) -> tuple[float | None, float | None]:
    if refs[0].ndim != 2 or refs[0].shape[-1] < 2 or not np.issubdtype(refs[0].dtype, np.floating):
        return None, None
    ref_rows = np.concatenate(refs).reshape(-1, refs[0].shape[-1])
    out_rows = np.concatenate(outs).reshape(-1, refs[0].shape[-1]).astype(np.float64)
    return top_k(np.nan_to_num(ref_rows, nan=-np.inf), np.nan_to_num(out_rows, nan=-np.inf))


def _worst_sample(refs: list[np.ndarray], outs: list[np.ndarray]) -> dict[str, Any]:
    cosines, snrs = [], []
    for ref, out in zip(refs, outs, strict=True):
        a, b = ref.astype(np.float64).ravel(), out.astype(np.float64).ravel()
        keep, _ = _nonfinite(a, b)
        cosines.append(cosine(a[keep], b[keep]))
        snrs.append(snr_db(a[keep], b[keep]))
    low_cos, low_snr = int(np.argmin(cosines)), int(np.argmin(snrs))
    return {
        "cosine": _round(cosines[low_cos]),
        "cosine_sample": low_cos,
        "snr_db": _round(snrs[low_snr]),
        "snr_sample": low_snr,
    }


def output_metrics(refs: list[np.ndarray], outs: list[np.ndarray]) -> dict[str, Any]:
    """One output's metrics over all samples (``refs[i]``, ``outs[i]``: sample i's arrays)."""
    a = np.concatenate([r.astype(np.float64).ravel() for r in refs])
    b = np.concatenate([o.astype(np.float64).ravel() for o in outs])
    keep, counts = _nonfinite(a, b)
    fa, fb = a[keep], b[keep]
    diff = np.abs(fa - fb)
    scale = float(np.max(np.abs(fa))) if fa.size else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    top1, top5 = _top_k(refs, outs)
    metrics = {
        "cosine": cosine(fa, fb),
        "snr_db": snr_db(fa, fb),
        "top1": top1,
        "top5": top5,
        "max_abs_error": max_abs,
        "relative_error": max_abs / scale if scale > 0 else max_abs,
        "worst_sample": _worst_sample(refs, outs),
    }
    if counts["reference_nonfinite"] or counts["artifact_nonfinite_where_reference_finite"]:
        metrics["nonfinite"] = counts
    return metrics


def failures(name: str, metrics: Mapping[str, Any], thresholds: Mapping[str, float]) -> list[str]:
    """Why output ``name`` fails its ``thresholds`` (empty: it passes)."""
    found = []
    counts = metrics.get("nonfinite", {})
    if counts.get("artifact_nonfinite_where_reference_finite"):
        found.append(
            f"output '{name}': {counts['artifact_nonfinite_where_reference_finite']} value(s) Inf or NaN "
            f"where the input model's are finite"
        )
    if counts.get("reference_nonfinite_disagreeing"):
        found.append(
            f"output '{name}': {counts['reference_nonfinite_disagreeing']} of the input model's "
            f"{counts['reference_nonfinite']} NaN/Inf value(s) differ in the artifact"
        )
    for metric, bound in thresholds.items():
        measured = metrics[REPORT_KEYS[metric]]
        if measured is None:
            continue
        if math.isnan(measured) or measured < bound:
            shown = "-inf" if measured == -math.inf else f"{measured:.6g}"
            found.append(f"output '{name}': {metric} {shown} < {bound:g}")
    return found


def compare(
    reference: Runner,
    artifact: Runner,
    samples: Dataset,
    precision: str,
    thresholds: Sequence[Threshold] = (),
    state: Sequence[StatePair] = (),
) -> dict[str, Any]:
    """Run both on every sample; gate each output's aggregates over the samples (module docstring).
    A stateful model (``state``: its state pairs) runs streams of chunks, carrying its state
    (``edgec.streaming``); every chunk's outputs count."""
    stream = None
    if state:
        runs, stream = stream_outputs(reference, artifact, list(samples.samples()), state)
    else:
        runs = [(reference(feed), artifact(feed)) for feed in samples.samples()]
    refs: dict[str, list[np.ndarray]] = {}
    outs: dict[str, list[np.ndarray]] = {}
    for ref_out, art_out in runs:
        for name, ref in ref_out.items():
            refs.setdefault(name, []).append(np.asarray(ref))
            outs.setdefault(name, []).append(np.asarray(art_out[name]))
    outputs, failed, gates = {}, [], {}
    for name in refs:
        metrics = output_metrics(refs[name], outs[name])
        gates[name] = gate(precision, thresholds, name)
        failed += failures(name, metrics, gates[name])
        outputs[name] = {k: _round(v) if isinstance(v, float) or v is None else v for k, v in metrics.items()}
    return {
        "samples": len(samples),
        "judged": samples.describe(),
        "reference": "input model under ONNX Runtime (CPU)",
        "criterion": "per output, over all samples together: cosine, SNR (dB; null when identical), "
        "top-1/top-5 agreement for class scores; per-sample worst figures reported, not gated",
        "thresholds": gates,
        "passed": not failed,
        "failures": failed,
        "outputs": outputs,
        **({"stream": stream} if stream else {}),
    }
