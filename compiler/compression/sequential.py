"""Layer-by-layer compression with reconstruction, on the already-compressed model's inputs, judged held out.

Layers are done in graph order. For each, the target is what the reference
(uncompressed) graph's layer computes before its activation on the
reference's own inputs; ``X`` is the *compressed* graph's input to the layer,
so each layer also absorbs the error of those before it. Calibration
samples are split: every ``HELD_EVERY``-th one is held out and never fits
anything; the rest give the layer's Hessian ``H = X^T X`` (centred when the
layer has a bias, which is then refitted as the mean residual). Candidates
per layer:

- ``plain``: the data-free method (magnitude pruning, nearest centroid), the
  weights and bias otherwise unchanged (the rollback);
- ``refit+obs d``: a ridge least-squares refit of the layer towards the
  reference's outputs (``H`` damped by ``d`` times its mean diagonal,
  pulled towards the current weights: a large ``d`` keeps them), then the
  second-order method (edgec.compression.obs) on the same damped ``H``,
  and the bias refitted; without ``refit``, ``obs d`` skips the first step.

The candidate with the smallest output error on the held-out samples wins,
so a refit that fits the calibration samples but not the held-out ones is
rolled back per layer. A layer with fewer fitting positions than
``min_rows_per_input`` times its inputs per output is left ``plain``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from onnx.utils import Extractor

from edgec.compression.obs import damped, inverse_upper
from edgec.ir.graph import Graph, Node
from edgec.ir.onnx_export import to_onnx
from edgec.ir.weight_matrices import (
    bias_vector,
    can_have_bias,
    groups,
    layer_outputs,
    layer_patches,
    positions,
    set_bias_vector,
    set_weight_matrix,
    weight_matrix,
    weighted_layers,
)
from edgec.runtime import Feeds, session

HELD_EVERY = 4

# (layer, weights [groups, rows, cols], damped Hessian or None, U or None) -> compressed weights
Compressor = Callable[[Node, np.ndarray, np.ndarray | None, np.ndarray | None], np.ndarray]


@dataclass(frozen=True)
class SequentialSettings:
    dampings: tuple[float, ...] = (0.01, 0.1, 1.0)
    fit_rows: int = 8192  # positions sampled per layer from the fitting samples
    held_rows: int = 4096  # from the held-out ones
    min_rows_per_input: float = 2.0
    refit: bool = True  # also try the least-squares refit before compressing
    seed: int = 0


@dataclass(frozen=True)
class LayerRecord:
    name: str
    choice: str
    held_error: float  # relative squared output error on the held-out samples, of the choice
    plain_held_error: float


def split(feeds: Sequence[Feeds], every: int = HELD_EVERY) -> tuple[list[Feeds], list[Feeds]]:
    """(fitting, held-out): every ``every``-th sample is held out (none when there are fewer than 2)."""
    if len(feeds) < 2:
        return list(feeds), list(feeds)
    held = [feed for i, feed in enumerate(feeds) if i % every == every - 1] or [feeds[-1]]
    fit = [feed for i, feed in enumerate(feeds) if i % every != every - 1 and feed is not held[-1]]
    return fit, held


def sampled_patches(graph: Graph, node: Node, feeds: Sequence[Feeds], budget: int, seed: int) -> np.ndarray:
    """The layer's im2col input [groups, positions, cols] on ``feeds``, ``budget`` positions sampled."""
    name = node.inputs[0].name
    inputs = [value.name for value in graph.inputs]
    sess = None
    if name not in inputs:  # the model cut at the layer's input: ONNX Runtime runs every node it is given
        model = Extractor(to_onnx(graph, extra_outputs=(name,))).extract_model(inputs, [name])
        sess = session(model, threads=1)
    rng = np.random.default_rng(seed)
    per_feed = max(1, -(-budget // max(len(feeds), 1)))
    chunks = []
    for feed in feeds:
        x = np.asarray(feed[name]) if sess is None else sess.run([name], dict(feed))[0]
        total = positions(node, x.shape[0])
        rows = np.sort(rng.choice(total, min(total, per_feed), replace=False))
        chunks.append(layer_patches(node, x.astype(np.float64), rows))
    return np.concatenate(chunks, axis=1)


@dataclass(frozen=True)
class LayerProblem:
    x: np.ndarray  # [groups, n, cols] compressed-model inputs (fitting)
    y: np.ndarray  # [n, out] reference pre-activation outputs
    x_held: np.ndarray
    y_held: np.ndarray
    with_bias: bool

    def hessian(self) -> tuple[np.ndarray, np.ndarray]:
        """(H, input mean): centred when the bias is refitted."""
        mean = self.x.mean(axis=1) if self.with_bias else np.zeros(self.x.shape[::2])
        centred = self.x - mean[:, None, :]
        return centred.transpose(0, 2, 1) @ centred, mean

    def bias(self, w: np.ndarray, mean: np.ndarray, fallback: np.ndarray | None) -> np.ndarray | None:
        if not self.with_bias:
            return fallback
        return self.y.mean(axis=0) - np.einsum("grc,gc->gr", w, mean).reshape(-1)

    def held_error(self, w: np.ndarray, bias: np.ndarray | None) -> float:
        got = layer_outputs_grouped(self.x_held, w, bias)
        spread = float(np.sum((self.y_held - self.y_held.mean(axis=0)) ** 2)) or 1.0
        return float(np.sum((got - self.y_held) ** 2)) / spread


def layer_outputs_grouped(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    out = np.concatenate([x[g] @ w[g].T for g in range(w.shape[0])], axis=1)
    return out + bias if bias is not None else out


def grouped_weights(node: Node) -> np.ndarray:
    """The layer's weights as [groups, rows, cols], float64: one OBS problem per group."""
    matrix = weight_matrix(node).astype(np.float64)
    g = groups(node)
    return matrix.reshape(g, matrix.shape[0] // g, matrix.shape[1])


def _refit(
    problem: LayerProblem, hessian: np.ndarray, h: np.ndarray, mean: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Ridge least squares of the weights towards the reference outputs, pulled towards ``start``."""
    g, rows, _ = start.shape
    y = problem.y - (problem.y.mean(axis=0) if problem.with_bias else 0.0)
    x = problem.x - mean[:, None, :]
    cross = np.stack([x[i].T @ y[:, i * rows : (i + 1) * rows] for i in range(g)])
    return ridge_solve(hessian, h, cross, start)


def ridge_solve(hessian: np.ndarray, h: np.ndarray, cross: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Weights ``W`` [..., rows, cols] with ``h W^T = X^T Y + (h - hessian) start^T``: least squares
    towards the reference (``cross`` = ``X^T Y``) under ``h``, ``hessian`` damped on its diagonal, the
    damping pulling ``W`` towards ``start``. Batched over leading axes (groups)."""
    ridge = np.diagonal(h - hessian, axis1=-2, axis2=-1)  # the damping: a diagonal
    right = cross + ridge[..., :, None] * np.swapaxes(start, -1, -2)
    return np.swapaxes(np.linalg.solve(h, right), -1, -2)


def compress_layer(
    node: Node, problem: LayerProblem, start: np.ndarray, compressor: Compressor, settings: SequentialSettings
) -> tuple[np.ndarray, np.ndarray | None, LayerRecord]:
    """The best candidate on the held-out samples: (weights [groups, rows, cols], bias, record)."""
    plain = compressor(node, start, None, None)
    current_bias = bias_vector(node)
    fallback = None if current_bias is None else current_bias.astype(np.float64)
    plain_error = problem.held_error(plain, fallback)
    best = (plain_error, "plain", plain, fallback)
    if problem.x.shape[1] < settings.min_rows_per_input * start.shape[2]:
        return plain, fallback, LayerRecord(node.name, "plain (too few samples)", plain_error, plain_error)
    hessian, mean = problem.hessian()
    for damping in settings.dampings:
        h = damped(hessian, damping)
        upper = inverse_upper(hessian, damping)
        starts = {"refit+obs": _refit(problem, hessian, h, mean, start)} if settings.refit else {"obs": start}
        for label, weights in starts.items():
            w = compressor(node, weights, h, upper)
            bias = problem.bias(w, mean, fallback)
            error = problem.held_error(w, bias)
            if error < best[0]:
                best = (error, f"{label} {damping:g}", w, bias)
    error, choice, w, bias = best
    return w, bias, LayerRecord(node.name, choice, error, plain_error)


def reference_outputs(
    reference: Graph, node: Node, feeds: Sequence[Feeds], budget: int, seed: int, rows: np.ndarray | None
) -> np.ndarray:
    """The reference layer's pre-activation outputs [positions, out] (``rows``: only those channels)."""
    x = sampled_patches(reference, node, feeds, budget, seed)
    y = layer_outputs(node, x, weight_matrix(node).astype(np.float64), bias_vector(node))
    return y if rows is None else y[:, rows]


def sequential(
    graph: Graph,
    reference: Graph,
    feeds: Sequence[Feeds],
    names: Sequence[str],
    compressor: Compressor,
    settings: SequentialSettings = SequentialSettings(),
    output_rows: dict[str, np.ndarray] | None = None,
) -> list[LayerRecord]:
    """Compress the layers ``names`` of ``graph`` in order (matched by name in ``reference``; a layer
    in ``output_rows`` matches those output channels of its reference)."""
    fit, held = split(feeds)
    ref_nodes = {node.name: node for node in weighted_layers(reference)}
    wanted = set(names)
    records = []
    for node in [n for n in weighted_layers(graph) if n.name in wanted and n.name in ref_nodes]:
        ref_node = ref_nodes[node.name]
        seed = settings.seed + len(records)
        rows = (output_rows or {}).get(node.name)
        problem = LayerProblem(
            sampled_patches(graph, node, fit, settings.fit_rows, seed),
            reference_outputs(reference, ref_node, fit, settings.fit_rows, seed, rows),
            sampled_patches(graph, node, held, settings.held_rows, seed + 1),
            reference_outputs(reference, ref_node, held, settings.held_rows, seed + 1, rows),
            can_have_bias(node),
        )
        w, bias, record = compress_layer(node, problem, grouped_weights(node), compressor, settings)
        set_weight_matrix(graph, node, w.reshape(-1, w.shape[2]))
        if bias is not None and can_have_bias(node):
            set_bias_vector(graph, node, bias)
        records.append(record)
    return records
