"""Size, MACs and the accuracy metric of an IR state.

The metric compares a graph's outputs with reference outputs (the input
model's, or the graph's before compression) on the same samples: top-1
agreement for a classifier-like first output ([batch, classes]), else the
mean cosine similarity over samples. Codebook sizes are read back from the
weights themselves: a layer whose weight takes few distinct values has been
clustered (or ternarized) and its codebook is those values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgec.compression.pass_inputs import Outputs, run_all
from edgec.ir.graph import Graph
from edgec.ir.statistics import node_macs, weight_values
from edgec.ir.weight_matrices import weighted_layers
from edgec.metrics import cosine
from edgec.runtime import Feeds

# A weight with at most this many distinct values counts as clustered.
MAX_CODEBOOK = 256


def weight_bytes(graph: Graph) -> int:
    return sum(value.nbytes for value in weight_values(graph))


def total_macs(graph: Graph) -> int:
    return sum(node_macs(node) for node in graph.nodes)


def layer_density(graph: Graph) -> float:
    """Fraction of non-zero weights over the weighted layers."""
    weights = [node.const_input(1) for node in weighted_layers(graph)]
    total = sum(w.size for w in weights)
    return sum(int(np.count_nonzero(w)) for w in weights) / total if total else 1.0


def agreement(reference: Outputs, outputs: Outputs) -> float:
    """Top-1 agreement of the first output if it looks like logits, else the mean cosine."""
    name = next(iter(reference[0]))
    ref = [np.asarray(item[name]) for item in reference]
    got = [np.asarray(item[name]) for item in outputs]
    if ref[0].ndim == 2 and ref[0].shape[1] > 1:
        hits = [np.mean(np.argmax(r, axis=1) == np.argmax(g, axis=1)) for r, g in zip(ref, got, strict=True)]
        return float(np.mean(hits))
    return float(np.mean([cosine(r, g) for r, g in zip(ref, got, strict=True)]))


def evaluate(graph: Graph, feeds: Sequence[Feeds], reference: Outputs) -> float:
    """``agreement`` of the graph's outputs with ``reference`` on ``feeds``."""
    names = [value.name for value in graph.outputs]
    outputs = [{name: item[name] for name in names} for item in run_all(graph, feeds)]
    return agreement(reference, outputs)


def codebook_sizes(graph: Graph) -> dict[str, int]:
    """Layer name -> number of distinct weight values, for layers with at most ``MAX_CODEBOOK``."""
    sizes = {}
    for node in weighted_layers(graph):
        weight = node.const_input(1)
        distinct = len(np.unique(weight))
        if distinct <= MAX_CODEBOOK and weight.size > distinct:
            sizes[node.name] = distinct
    return sizes
