"""Reconstruction after quantization: GPTQ rounding of the int8 weights.

Rounding each weight to the nearest int8 step ignores that a layer's inputs
are correlated: errors of neighbouring weights can cancel on the data.
GPTQ/OPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", 2022) rounds the columns of a layer's
weight matrix in order and, after each column, spreads its rounding error
over the columns not yet rounded, weighted by the inverse of the layer's
input Hessian ``H = 2 X^T X`` (through the upper Cholesky factor of
``H^-1``), which minimises ``||W X - Q X||`` greedily.

Here ``X`` is the layer's input on the calibration data, from the *float*
graph (one ONNX Runtime session exposing every layer input), im2col'd for
a Conv and split by group (a depthwise conv has one 9-column problem per
channel, solved in one batch), with at most ``max_rows`` positions sampled
per layer. ``H`` is dampened by ``damping`` times its mean diagonal.
The scales are the weights' own ``Value.quant`` (per output channel,
symmetric int8 in [-127, 127]), so the result only changes which integer
each weight gets. Layers with no more sampled positions than inputs (a
Gemm on few samples) and those ``edgec.ir.weight_matrices`` does not cover
keep round-to-nearest. ``quantize_qdq(rounded=...)`` stores the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node, QuantParams
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.ir.weight_matrices import layer_patches, positions, weighted_layers
from edgec.quantization.collect import progress_bar
from edgec.quantization.scheme import INT8_BOUND
from edgec.runtime import run, session


@dataclass(frozen=True)
class RoundingSettings:
    damping: float = 0.01  # added to H's diagonal, as a fraction of its mean diagonal
    max_rows: int = 4096  # positions sampled per layer over the whole calibration set
    flush_rows: int = 2048  # patches multiplied together in one block
    block: int = 128  # columns per lazy-update block
    seed: int = 0


def _matrix_axis(node: Node) -> int:
    """The weight axis that is the output channel (row) axis of the layer's weight matrix."""
    return 1 if node.op is not Op.CONV and not (node.op is Op.GEMM and node.attrs["transB"]) else 0


def matrix_rows(node: Node, weight: np.ndarray) -> np.ndarray:
    """The weight as [output channels, inputs per group] (no Gemm alpha: a common factor)."""
    return np.moveaxis(weight, _matrix_axis(node), 0).reshape(weight.shape[_matrix_axis(node)], -1)


def from_matrix_rows(node: Node, rows: np.ndarray, like: np.ndarray) -> np.ndarray:
    axis = _matrix_axis(node)
    shape = [like.shape[axis], *np.delete(np.asarray(like.shape), axis)]
    return np.moveaxis(rows.reshape(shape), 0, axis)


def row_scales(node: Node, params: QuantParams, count: int) -> np.ndarray | None:
    """One scale per matrix row, or None when the weight's scales are not per row or per tensor."""
    scale = np.asarray(params.scale, np.float64).reshape(-1)
    if scale.size == 1:
        return np.full(count, scale[0])
    if params.axis == _matrix_axis(node) and scale.size == count:
        return scale
    return None


def rounding_candidates(graph: Graph) -> list[Node]:
    """Layers with a symmetric int8 weight whose scales run along the weight matrix's rows."""
    chosen = []
    for node in weighted_layers(graph):
        weight = node.input(1)
        assert weight is not None and weight.data is not None
        params = weight.quant
        if params is None or params.dtype != np.int8 or np.any(np.asarray(params.zero_point) != 0):
            continue
        if row_scales(node, params, matrix_rows(node, weight.data).shape[0]) is not None:
            chosen.append(node)
    return chosen


class _GramSums:
    """Running ``2 X^T X`` of one layer: patches buffered in float32 and multiplied in large
    blocks (few BLAS calls), the products summed in float64."""

    def __init__(self, flush_rows: int) -> None:
        self.flush_rows = flush_rows
        self.pending: list[np.ndarray] = []
        self.buffered = 0
        self.total: np.ndarray | None = None
        self.rows = 0

    def add(self, patches: np.ndarray) -> None:
        self.pending.append(patches)
        self.buffered += patches.shape[1]
        self.rows += patches.shape[1]
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        block = np.concatenate(self.pending, axis=1) if len(self.pending) > 1 else self.pending[0]
        gram = 2.0 * np.matmul(block.transpose(0, 2, 1), block).astype(np.float64)
        self.total = gram if self.total is None else self.total + gram
        self.pending, self.buffered = [], 0


def layer_hessians(
    graph: Graph, nodes: list[Node], dataset: Dataset, settings: RoundingSettings
) -> dict[str, tuple[np.ndarray, int]]:
    """Per layer: ``2 X^T X`` per group [groups, inputs, inputs] and the number of rows it saw."""
    rng = np.random.default_rng(settings.seed)
    names = list(dict.fromkeys(n.inputs[0].name for n in nodes))
    inputs = {v.name for v in graph.inputs}
    sess = session(to_onnx(graph, extra_outputs=[n for n in names if n not in inputs]))
    per_sample = max(1, -(-settings.max_rows // max(len(dataset), 1)))
    sums = {node.name: _GramSums(settings.flush_rows) for node in nodes}
    with progress_bar(len(dataset), "gptq inputs") as bar:
        for feeds in dataset.samples():
            outputs = run(sess, feeds)
            outputs.update(feeds)
            for node in nodes:
                x = outputs[node.inputs[0].name]
                total = positions(node, x.shape[0])
                rows = np.sort(rng.choice(total, min(total, per_sample), replace=False))
                sums[node.name].add(np.ascontiguousarray(layer_patches(node, x, rows), np.float32))
            bar.update(1)
    for gram in sums.values():
        gram.flush()
    return {name: (gram.total, gram.rows) for name, gram in sums.items() if gram.total is not None}


def _inverse_upper_factor(h: np.ndarray) -> np.ndarray:
    """The upper triangular ``U`` with ``H^-1 = U^T U``, per group, from one Cholesky factorization:
    with ``R`` the upper factor of ``H = R R^T`` (the lower factor of ``H`` with rows and columns
    reversed, reversed back), ``U = R^-1``; no explicit inverse of ``H``."""
    reversed_lower = np.linalg.cholesky(h[:, ::-1, ::-1])
    r = reversed_lower[:, ::-1, ::-1]
    identity = np.broadcast_to(np.eye(h.shape[1]), h.shape)
    return np.linalg.solve(r, identity)


def gptq_round(
    weights: np.ndarray, hessian: np.ndarray, scales: np.ndarray, settings: RoundingSettings
) -> np.ndarray:
    """GPTQ integers for ``weights`` [groups, rows, cols] with ``hessian`` [groups, cols, cols].

    ``scales`` [groups, rows]; returns int8 in [-127, 127]. Columns no
    sample touched (zero diagonal) are rounded to nearest and spread no error.
    """
    w = weights.astype(np.float64).copy()
    h = hessian.astype(np.float64).copy()
    cols = w.shape[2]
    index = np.arange(cols)
    diag = h[:, index, index]
    diag[diag == 0] = 1.0
    h[:, index, index] = diag + settings.damping * diag.mean(axis=1, keepdims=True)
    upper = _inverse_upper_factor(h)
    s = scales[:, :, None]
    q = np.zeros_like(w)
    for start in range(0, cols, settings.block):
        stop = min(start + settings.block, cols)
        errors = np.zeros((w.shape[0], w.shape[1], stop - start))
        for i in range(start, stop):
            column = w[:, :, i]
            q[:, :, i] = np.clip(np.round(column / s[:, :, 0]), -INT8_BOUND, INT8_BOUND)
            error = (column - q[:, :, i] * s[:, :, 0]) / upper[:, i, i][:, None]
            w[:, :, i + 1 : stop] -= error[:, :, None] * upper[:, None, i, i + 1 : stop]
            errors[:, :, i - start] = error
        w[:, :, stop:] -= errors @ upper[:, start:stop, stop:]
    return q.astype(np.int8)


# (weights [groups, rows, cols], a layer's statistics (first: [groups, cols, cols]), scales
# [groups, rows]) -> int8 [groups, rows, cols]
RoundLayer = Callable[[np.ndarray, tuple[np.ndarray, ...], np.ndarray], np.ndarray]


def round_layers(
    nodes: list[Node], statistics: dict[str, tuple[Any, ...]], round_layer: RoundLayer
) -> dict[str, np.ndarray]:
    """``round_layer``'s int8 weights (in the weight's own layout) by layer name; ``statistics``
    per layer: (arrays..., number of sampled positions). A layer with no more positions than
    inputs (a Gemm on few samples) keeps round-to-nearest: the rounding would fit noise."""
    rounded = {}
    for node in nodes:
        *arrays, count = statistics[node.name]
        weight = node.input(1)
        assert weight is not None and weight.data is not None and weight.quant is not None
        rows = matrix_rows(node, weight.data)
        if count <= rows.shape[1]:
            continue
        scales = row_scales(node, weight.quant, rows.shape[0])
        assert scales is not None
        groups = arrays[0].shape[0]
        grouped = rows.reshape(groups, rows.shape[0] // groups, rows.shape[1])
        ints = round_layer(grouped, tuple(arrays), scales.reshape(groups, -1))
        rounded[node.name] = from_matrix_rows(node, ints.reshape(rows.shape), weight.data)
    return rounded


def gptq_rounding(
    graph: Graph, dataset: Dataset, settings: RoundingSettings = RoundingSettings()
) -> dict[str, np.ndarray]:
    """GPTQ-rounded int8 weights (in the weight's own layout) by layer name, for calibrated ``graph``."""
    nodes = rounding_candidates(graph)
    hessians = layer_hessians(graph, nodes, dataset, settings) if nodes else {}
    return round_layers(nodes, hessians, lambda w, h, s: gptq_round(w, h[0], s, settings))
