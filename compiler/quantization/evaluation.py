"""Running a graph over a data set and measuring it against the float model's outputs.

The measures themselves (cosine, SNR, top-k, labelled accuracy per output) are
``edgec.metrics``'s; this module runs the graph that is measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.metrics import Metrics, compare_outputs
from edgec.quantization.collect import progress_bar
from edgec.runtime import run, session

Outputs = dict[str, np.ndarray]


def run_dataset(graph: Graph, dataset: Dataset, description: str = "evaluating") -> Outputs:
    """Run ``graph`` on every sample, as an exact simulation (no ONNX Runtime rewrites of Q/DQ pairs)."""
    sess = session(to_onnx(graph), optimize=False)
    collected: dict[str, list[np.ndarray]] = {}
    with progress_bar(len(dataset), description) as bar:
        for feeds in dataset.samples():
            for name, array in run(sess, feeds).items():
                collected.setdefault(name, []).append(array)
            bar.update(1)
    return {name: np.stack(arrays) for name, arrays in collected.items()}


def evaluate(graph: Graph, dataset: Dataset, reference: Mapping[str, np.ndarray]) -> Metrics:
    """Run ``graph`` (e.g. a Q/DQ model) on ``dataset`` and compare with the float ``reference`` outputs."""
    return compare_outputs(reference, run_dataset(graph, dataset), dataset.labels)
