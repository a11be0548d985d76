"""The accuracy check after every build: the input model under ONNX Runtime
against the artifact, on the same sample inputs, per output.

Sample inputs are the user's (an .npz keyed by input name) or seeded random
data: floats ~ N(0, 1) clipped to [-3, 3], integers in [0, 2), booleans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgec.backends import Runner
from edgec.ir.graph import Value
from edgec.quantization.data import load_arrays
from edgec.streaming import StatePair, compare_stream

# Cosine similarity an artifact must reach per output, by precision. Below it
# the build fails: at fp32 a miss means a compiler bug, not rounding.
MIN_COSINE = {"fp32": 0.9999, "fp16": 0.999, "int8-dynamic": 0.99, "int8": 0.99, "int16x8": 0.999}


@dataclass(frozen=True)
class SampleSet:
    """Named input batches: ``samples[i][input_name]`` is one model input."""

    samples: list[dict[str, np.ndarray]]
    source: str


def random_samples(inputs: Sequence[Value], count: int, seed: int) -> SampleSet:
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        feed = {}
        for value in inputs:
            shape = value.shape or ()
            if np.issubdtype(value.dtype, np.floating):
                data = np.clip(rng.standard_normal(shape), -3.0, 3.0)
            elif value.dtype == np.bool_:
                data = rng.integers(0, 2, shape).astype(bool)
            else:
                data = rng.integers(0, 2, shape)
            feed[value.name] = np.asarray(data, dtype=value.dtype)
        samples.append(feed)
    return SampleSet(samples, f"random, seed {seed}")


def load_samples(path: Path, inputs: Sequence[Value]) -> SampleSet:
    """An .npz keyed by input name; each array is one input or a stack of them."""
    return SampleSet(list(load_arrays(path, inputs).samples()), path.name)


def _metrics(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    a = ref.astype(np.float64).ravel()
    b = out.astype(np.float64).ravel()
    diff = np.abs(a - b)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(np.dot(a, b) / norms) if norms > 0 else float(np.array_equal(a, b))
    return {
        "max_abs_error": float(diff.max()) if diff.size else 0.0,
        "relative_error": float(diff.max() / scale) if scale > 0 else float(diff.max() if diff.size else 0.0),
        "cosine": cosine,
    }


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _worst(reference: Runner, artifact: Runner, samples: SampleSet) -> dict[str, dict[str, float]]:
    """Per output, the worst value of each metric over the samples, one call per sample."""
    worst: dict[str, dict[str, float]] = {}
    for feed in samples.samples:
        ref_out = reference(feed)
        art_out = artifact(feed)
        for name, ref in ref_out.items():
            m = _metrics(ref, art_out[name])
            w = worst.setdefault(name, {"max_abs_error": 0.0, "relative_error": 0.0, "cosine": 1.0})
            w["max_abs_error"] = max(w["max_abs_error"], m["max_abs_error"])
            w["relative_error"] = max(w["relative_error"], m["relative_error"])
            w["cosine"] = min(w["cosine"], m["cosine"])
    return worst


def compare(
    reference: Runner,
    artifact: Runner,
    samples: SampleSet,
    precision: str,
    state: Sequence[StatePair] = (),
) -> dict[str, Any]:
    """Run both on every sample; per output, the worst value of each metric over the samples. A
    stateful model (``state``: its state pairs) runs streams of chunks, carrying its state
    (``edgec.streaming``)."""
    stream = None
    if state:
        worst, stream = compare_stream(reference, artifact, samples.samples, state, _metrics)
    else:
        worst = _worst(reference, artifact, samples)
    threshold = MIN_COSINE.get(precision, 0.99)
    outputs = {name: {k: _round(v) for k, v in w.items()} for name, w in worst.items()}
    return {
        "samples": len(samples.samples),
        "sample_source": samples.source,
        "reference": "input model under ONNX Runtime (CPU)",
        "min_cosine": threshold,
        "passed": all(w["cosine"] >= threshold for w in worst.values()),
        "outputs": outputs,
        **({"stream": stream} if stream else {}),
    }
