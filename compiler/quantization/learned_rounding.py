"""AdaRound rounding of the int8 weights (``--reconstruct adaround``), on the quantized model's inputs.

Each layer learns which way each weight rounds (edgec.compression.adaround) to reproduce what the
float layer computes on the float model's inputs, ``W X_ref``, from what it receives in the
quantized model, ``W~ X``: the asymmetric loss of AdaRound, which also absorbs the error of the
layers before it and of the activations' quantization. ``X`` comes from the Q/DQ model (activations
on their int8 grids, earlier layers' weights rounded to nearest: one pass over the calibration
data for all layers, not one per layer), ``X_ref`` from the float graph, at the same sampled
positions; each layer needs only ``X^T X`` and ``X_ref^T X`` (their means over the positions). The
scales are the weights' own, as for GPTQ (edgec.quantization.rounding), whose layer selection
this shares.
"""

from __future__ import annotations

import numpy as np

from edgec.compression.adaround import AdaRoundSettings, learn_rounding
from edgec.compression.layers import layer_patches, positions
from edgec.ir.graph import Graph, Node
from edgec.ir.onnx_export import to_onnx
from edgec.quantization.collect import progress_bar
from edgec.quantization.data import Dataset
from edgec.quantization.qdq import quantize_qdq
from edgec.quantization.rounding import RoundingSettings, round_layers, rounding_candidates
from edgec.quantization.scheme import INT8_BOUND, Placement
from edgec.runtime import run, session

ADAROUND = AdaRoundSettings()
SAMPLING = RoundingSettings()


def adaround_round(
    weights: np.ndarray, gram: np.ndarray, cross: np.ndarray, scales: np.ndarray, settings: AdaRoundSettings
) -> np.ndarray:
    """AdaRound integers in [-127, 127] for ``weights`` [groups, rows, cols], ``scales`` [groups, rows],
    the mean ``X^T X`` (``gram``) and ``X_ref^T X`` (``cross``) [groups, cols, cols]."""
    s = scales[:, :, None].astype(np.float64)
    low = np.clip(np.floor(weights / s), -INT8_BOUND, INT8_BOUND)
    high = np.minimum(low + 1, INT8_BOUND)
    up = learn_rounding(weights, gram, low * s, high * s, settings, cross)
    return np.where(up, high, low).astype(np.int8)


class _PairSums:
    """Running sums of ``X^T X`` and ``X_ref^T X`` of one layer, per group, in float64."""

    def __init__(self) -> None:
        self.gram: np.ndarray | None = None
        self.cross: np.ndarray | None = None
        self.rows = 0

    def add(self, x: np.ndarray, reference: np.ndarray) -> None:
        xt = x.transpose(0, 2, 1)
        gram, cross = (xt @ x).astype(np.float64), (reference.transpose(0, 2, 1) @ x).astype(np.float64)
        self.gram = gram if self.gram is None else self.gram + gram
        self.cross = cross if self.cross is None else self.cross + cross
        self.rows += x.shape[1]

    def means(self) -> tuple[np.ndarray, np.ndarray, int]:
        assert self.gram is not None and self.cross is not None
        return self.gram / self.rows, self.cross / self.rows, self.rows


def layer_pairs(
    graph: Graph, qdq: Graph, nodes: list[Node], dataset: Dataset, settings: RoundingSettings
) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per layer: mean ``X^T X``, mean ``X_ref^T X`` (``X`` from ``qdq``, ``X_ref`` from ``graph``,
    same positions) and the number of positions sampled."""
    rng = np.random.default_rng(settings.seed)
    in_qdq = {node.name: node.inputs[0].name for node in qdq.nodes if node.inputs and node.inputs[0]}
    inputs = {v.name for v in graph.inputs}
    float_names = [n for n in dict.fromkeys(node.inputs[0].name for node in nodes) if n not in inputs]
    qdq_names = [n for n in dict.fromkeys(in_qdq[node.name] for node in nodes) if n not in inputs]
    float_session = session(to_onnx(graph, extra_outputs=float_names))
    qdq_session = session(to_onnx(qdq, extra_outputs=qdq_names))
    per_sample = max(1, -(-settings.max_rows // max(len(dataset), 1)))
    sums = {node.name: _PairSums() for node in nodes}
    with progress_bar(len(dataset), "adaround inputs") as bar:
        for feeds in dataset.samples():
            reference, quantized = run(float_session, feeds), run(qdq_session, feeds)
            reference.update(feeds)
            quantized.update(feeds)
            for node in nodes:
                x_ref, x = reference[node.inputs[0].name], quantized[in_qdq[node.name]]
                total = positions(node, x.shape[0])
                rows = np.sort(rng.choice(total, min(total, per_sample), replace=False))
                patches = layer_patches(node, x, rows).astype(np.float32)
                sums[node.name].add(patches, layer_patches(node, x_ref, rows).astype(np.float32))
            bar.update(1)
    return {name: pair.means() for name, pair in sums.items() if pair.rows}


def adaround_rounding(
    graph: Graph,
    dataset: Dataset,
    placement: Placement = "tensorrt",
    settings: RoundingSettings = SAMPLING,
    adaround: AdaRoundSettings = ADAROUND,
) -> dict[str, np.ndarray]:
    """AdaRound int8 weights (in the weight's own layout) by layer name, for calibrated ``graph``;
    ``placement``: where the Q/DQ model quantizes activations (the scheme's)."""
    nodes = rounding_candidates(graph)
    if not nodes:
        return {}
    pairs = layer_pairs(graph, quantize_qdq(graph, placement), nodes, dataset, settings)
    return round_layers(nodes, pairs, lambda w, p, s: adaround_round(w, p[0], p[1], s, adaround))
