"""Samples as a ``Dataset``: the inputs the accuracy check judges and the compression passes calibrate on.

An .npz's samples (``load_samples``), the first samples of a ``Dataset``
(``dataset_samples``) or seeded random inputs (``random_samples``): floats
~ N(0, 1) clipped to [-3, 3], integers in [0, 2), booleans; each keeps where
it came from (``Dataset.describe``). ``reserved``/``unreserved`` split off
every Nth sample, which the compression passes never see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgec.data.datasets import Dataset, Feeds, load_arrays
from edgec.ir.graph import Value


def random_samples(
    inputs: Sequence[Value], count: int, seed: int | Sequence[int], source: str | None = None
) -> Dataset:
    """``count`` seeded random samples, drawn sample by sample, input by input; ``source`` describes
    them (default ``random, seed <seed>``)."""
    rng = np.random.default_rng(seed)
    feeds = []
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
        feeds.append(feed)
    return Dataset.stack(feeds, f"random, seed {seed}" if source is None else source)


def load_samples(path: Path, inputs: Sequence[Value]) -> Dataset:
    """An .npz keyed by input name; each array is one input or a stack of them."""
    data = load_arrays(path, inputs)
    return replace(data, source=path.name, indices=range(len(data)))


def dataset_samples(data: Dataset, limit: int, what: str, start: int = 0) -> Dataset:
    """The first ``limit`` samples of ``data``, which are samples ``start``, ... of its source."""
    taken = data.head(limit)
    return replace(
        taken, source=f"{Path(data.source).name} ({what})", indices=range(start, start + len(taken))
    )


def reserved(feeds: Sequence[Feeds], every: int) -> list[Feeds]:
    """Every ``every``-th sample (0: none): kept from the passes so that the build's budget judges on
    samples no pass calibrated or refitted on."""
    return [feed for i, feed in enumerate(feeds) if every and i % every == every - 1]


def unreserved(feeds: Sequence[Feeds], every: int) -> list[Feeds]:
    return [feed for i, feed in enumerate(feeds) if not every or i % every != every - 1]
