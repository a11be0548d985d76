"""Run the IR on calibration data and collect statistics of every activation.

The IR is exported with every intermediate float tensor as an extra output
and run by ONNX Runtime, one sample (one model batch: the IR's shapes are
static) at a time, so memory holds one sample's activations, never the
whole set. Two passes: the first finds each tensor's min and max (and the
per-channel means that bias correction needs), the second fills a histogram
of ``2 * bins`` bins over ``[-amax, amax]``, symmetric around zero so that
folding it gives TensorRT's histogram of ``|x|`` with ``bins`` bins over
``[0, amax]``. The second pass is skipped when only min/max is needed.

A progress bar goes to stderr when stderr is a terminal, and nowhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Value
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.runtime import run, session

# Weighted ops whose input channel means bias correction needs.
WEIGHTED = frozenset({Op.CONV, Op.CONV_TRANSPOSE, Op.GEMM, Op.MATMUL})
DEFAULT_BINS = 2048


@dataclass
class TensorStats:
    """What calibration saw of one tensor."""

    minimum: float = np.inf
    maximum: float = -np.inf
    histogram: np.ndarray | None = None
    channel_sum: np.ndarray | None = field(default=None, repr=False)

    @property
    def amax(self) -> float:
        return float(max(abs(self.minimum), abs(self.maximum)))

    def signed_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts and edges over ``[-amax, amax]``."""
        if self.histogram is None:
            raise ValueError("no histogram was collected")
        return self.histogram, np.linspace(-self.amax, self.amax, len(self.histogram) + 1)

    def abs_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts and edges of ``|x|`` over ``[0, amax]`` (TensorRT's calibration histogram)."""
        counts, _ = self.signed_histogram()
        half = len(counts) // 2
        folded = counts[half:] + counts[:half][::-1]
        return folded, np.linspace(0.0, self.amax, half + 1)


@dataclass
class Statistics:
    tensors: dict[str, TensorStats]
    samples: int
    source: str
    bins: int
    channel_means: dict[str, np.ndarray]


def activation_values(graph: Graph) -> list[Value]:
    """Float tensors computed at run time: graph inputs and node outputs, in graph order."""
    produced = [v for node in graph.nodes for v in node.outputs]
    return [v for v in [*graph.inputs, *produced] if np.issubdtype(v.dtype, np.floating)]


def weighted_inputs(graph: Graph) -> set[str]:
    """Activation inputs of weighted nodes (Conv/ConvTranspose/Gemm/MatMul with a constant weight)."""
    names = set()
    for node in graph.nodes_of(*WEIGHTED):
        weight, data = node.input(1), node.input(0)
        if weight is not None and weight.is_constant and data is not None and not data.is_constant:
            names.add(data.name)
    return names


def progress_bar(total: int, description: str) -> tqdm:
    """A bar on stderr when it is a terminal; silent otherwise."""
    return tqdm(total=total, desc=description, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def _outputs(graph: Graph, dataset: Dataset, names: list[str], bar: tqdm) -> Iterator[dict[str, np.ndarray]]:
    sess = session(to_onnx(graph, extra_outputs=[n for n in names if n not in dataset.arrays]))
    for feeds in dataset.samples():
        outputs = run(sess, feeds)
        outputs.update(feeds)
        bar.update(1)
        yield outputs


def _update_range(stats: TensorStats, array: np.ndarray) -> None:
    if array.size:
        stats.minimum = min(stats.minimum, float(array.min()))
        stats.maximum = max(stats.maximum, float(array.max()))


def _update_channels(stats: TensorStats, array: np.ndarray) -> None:
    axes = tuple(i for i in range(array.ndim) if i != 1)
    means = array.mean(axis=axes, dtype=np.float64) if array.ndim >= 2 else array.astype(np.float64)
    stats.channel_sum = means if stats.channel_sum is None else stats.channel_sum + means


def _update_histogram(stats: TensorStats, array: np.ndarray, bins: int) -> None:
    total = 2 * bins
    amax = stats.amax
    if stats.histogram is None:
        stats.histogram = np.zeros(total, dtype=np.int64)
    if amax == 0.0:
        stats.histogram[bins] += array.size
        return
    index = ((array.ravel().astype(np.float32) + np.float32(amax)) * np.float32(total / (2 * amax))).astype(
        np.int64
    )
    np.clip(index, 0, total - 1, out=index)
    stats.histogram += np.bincount(index, minlength=total)


def collect_statistics(
    graph: Graph,
    dataset: Dataset,
    bins: int = DEFAULT_BINS,
    histograms: bool = True,
    only: Collection[str] | None = None,
) -> Statistics:
    """Min/max (and histograms when ``histograms``) of every float activation of ``graph``,
    or of those named in ``only``."""
    names = [v.name for v in activation_values(graph) if only is None or v.name in only]
    mean_names = weighted_inputs(graph) & set(names)
    stats = {name: TensorStats() for name in names}
    passes = 2 if histograms else 1
    with progress_bar(passes * len(dataset), "calibrating") as bar:
        for outputs in _outputs(graph, dataset, names, bar):
            for name in names:
                _update_range(stats[name], outputs[name])
                if name in mean_names:
                    _update_channels(stats[name], outputs[name])
        if histograms:
            for outputs in _outputs(graph, dataset, names, bar):
                for name in names:
                    _update_histogram(stats[name], outputs[name], bins)
    means = {
        name: stats[name].channel_sum / len(dataset)
        for name in mean_names
        if stats[name].channel_sum is not None
    }
    return Statistics(stats, len(dataset), dataset.source, bins, means)


def channel_amax(graph: Graph, dataset: Dataset, names: list[str]) -> dict[str, np.ndarray]:
    """The largest ``|x|`` of each channel (axis 1) of the tensors ``names`` over ``dataset``."""
    found: dict[str, np.ndarray] = {}
    with progress_bar(len(dataset), "measuring channels") as bar:
        for outputs in _outputs(graph, dataset, names, bar):
            for name in names:
                array = np.abs(outputs[name])
                axes = tuple(i for i in range(array.ndim) if i != 1)
                peak = array.max(axis=axes).astype(np.float64)
                found[name] = peak if name not in found else np.maximum(found[name], peak)
    return found
