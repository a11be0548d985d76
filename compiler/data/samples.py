"""Samples as feeds: the inputs the accuracy check judges and the compression passes calibrate on.

A ``SampleSet`` holds one feed (input name -> array) per sample, in order,
with where they came from: an .npz's samples (``load_samples``), the first
samples of a ``Dataset`` (``dataset_samples``) or seeded random inputs
(``random_samples``; stacked as a ``Dataset``: ``random_dataset``): floats
~ N(0, 1) clipped to [-3, 3], integers in [0, 2), booleans.
``reserved``/``unreserved`` split off every Nth sample, which the
compression passes never see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgec.data.datasets import Dataset, Feeds, load_arrays
from edgec.ir.graph import Value


@dataclass(frozen=True)
class SampleSet:
    """Named input batches: ``samples[i][input_name]`` is one model input.

    ``indices``: the samples' positions in ``source`` (None for random inputs).
    """

    samples: list[Feeds]
    source: str
    indices: range | None = None

    def describe(self) -> dict[str, Any]:
        shown = None
        if self.indices is not None and len(self.indices):
            shown = {"first": self.indices[0], "last": self.indices[-1]}
        return {"source": self.source, "count": len(self.samples), "indices": shown}


def random_samples(inputs: Sequence[Value], count: int, seed: int | Sequence[int]) -> SampleSet:
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
    samples = list(load_arrays(path, inputs).samples())
    return SampleSet(samples, path.name, range(len(samples)))


def random_dataset(inputs: Sequence[Value], count: int, seed: int | Sequence[int], note: str = "") -> Dataset:
    """``random_samples`` stacked as a ``Dataset``."""
    samples = random_samples(inputs, count, seed).samples
    arrays = {v.name: np.stack([s[v.name] for s in samples]) for v in inputs}
    return Dataset(arrays, f"random N(0,1) clipped to [-3,3], seed {seed}{note}")


def dataset_samples(data: Dataset, limit: int, what: str, start: int = 0) -> SampleSet:
    """The first ``limit`` samples of ``data``, which are samples ``start``, ... of its source."""
    taken = min(len(data), limit)
    name = Path(data.source).name
    return SampleSet([data.sample(i) for i in range(taken)], f"{name} ({what})", range(start, start + taken))


def reserved(feeds: Sequence[Feeds], every: int) -> list[Feeds]:
    """Every ``every``-th sample (0: none): kept from the passes so that the build's budget judges on
    samples no pass calibrated or refitted on."""
    return [feed for i, feed in enumerate(feeds) if every and i % every == every - 1]


def unreserved(feeds: Sequence[Feeds], every: int) -> list[Feeds]:
    return [feed for i, feed in enumerate(feeds) if not every or i % every != every - 1]
