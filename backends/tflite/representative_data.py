"""Where the int8 paths get their calibration inputs.

In ``edgec build`` the quantization engine calibrates (``--calibration-data``,
``--preprocess``, ``--calibration-method``): its ranges reach the converter as
FakeQuant ops (``edgec.backends.tflite.quantization``) and its calibration
data is the converter's representative dataset (``dataset_feeds``).
``representative_inputs`` serves conversions without the engine (int16x8,
``bench/tflite.py``): the user's ``--sample-data`` (an .npz keyed by input
name, as for the accuracy check), else seeded random inputs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgec.plugin import Dataset, Graph, load_samples, random_samples, stored_perm

# Enough for stable ranges on CNNs while keeping an int8 build of a mobile CNN well under 20 s.
DEFAULT_CALIBRATION_SAMPLES = 32


def representative_inputs(
    graph: Graph, sample_data: Path | None, seed: int, count: int = DEFAULT_CALIBRATION_SAMPLES
) -> Dataset:
    """Logical (input-model layout) feeds for calibration, by input name: ``sample_data``'s first
    ``count``, else ``count`` random inputs drawn with ``seed`` (``--seed``)."""
    if sample_data is not None:
        loaded = load_samples(sample_data, graph.inputs)
        return replace(loaded.head(count), source=f"{loaded.source} (first {min(count, len(loaded))})")
    return random_samples(graph.inputs, count, seed)


def stored_feeds(graph: Graph, samples: Dataset) -> list[list[np.ndarray]]:
    """Each sample as the converted model's positional inputs, in their stored order."""
    return [
        [np.asarray(np.transpose(feed[v.name], stored_perm(v)), order="C") for v in graph.inputs]
        for feed in samples.samples()
    ]


def dataset_feeds(graph: Graph, dataset: Dataset) -> list[list[np.ndarray]]:
    """The engine's calibration samples as the converted model's positional inputs."""
    return stored_feeds(graph, dataset)
