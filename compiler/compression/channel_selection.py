"""Which channels of one group prune-channels removes, chosen from its consumers' output error on data.

A group's consumers are the layers that read its channels (the 1x1
projection after a depthwise conv in an inverted-residual block, the
classifier after pooling). Removing channel ``c`` removes its columns ``S``
from every consumer; with the consumer's input Hessian ``H = X^T X`` (the
already-pruned model's inputs, edgec.compression.sequential) the output
error of the best compensation is structured OBS's
``trace(W_S [(H^-1)_SS]^-1 W_S^T)``, summed over the consumers and removed
greedily (edgec.compression.obs.channel_obs), which also gives the refit.
The weight norms of the producers (the data-free choice) say how large a
channel's weights are, not how much of the consumers' output the others
cannot take over.

Candidates, judged by the consumers' relative output error on held-out
calibration samples (never on validation data), the best kept:

- ``l1``: the producers' L1 choice, the consumers' columns dropped;
- ``l1 refit d``: the same channels, the consumers refitted by ridge least
  squares towards the reference outputs (the method before this one);
- ``obs d``: the OBS choice and update from the current weights;
- ``refit+obs d``: the ridge refit with every channel, then the OBS choice.

``d`` is the damping of ``H`` (times its mean diagonal). Refits need
``min_rows_per_input`` fitting positions per consumer input; the OBS choice
from the current weights is offered at any sample count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from edgec.compression.obs import channel_obs, damped
from edgec.compression.sequential import (
    LayerProblem,
    SequentialSettings,
    reference_outputs,
    ridge_solve,
    sampled_patches,
)
from edgec.ir.graph import Graph, Node
from edgec.ir.weight_matrices import bias_vector, can_have_bias, weight_matrix
from edgec.runtime import Feeds


@dataclass(frozen=True)
class GroupConsumer:
    node: Node
    columns: np.ndarray  # [group channels, columns per channel]: the weight-matrix columns of each channel
    rows: np.ndarray | None  # the reference's output channels the layer still has (None: all)


@dataclass(frozen=True)
class GroupChoice:
    keep: np.ndarray  # the group's channels kept, sorted
    weights: list[np.ndarray]  # per consumer [rows, kept columns]
    biases: list[np.ndarray | None]
    label: str
    held_error: float  # summed relative output error of the consumers on the held-out samples
    l1_held_error: float


@dataclass(frozen=True)
class _Fit:
    """One consumer's least-squares problem: centred Hessian, input mean, ``X^T Y``, start weights."""

    problem: LayerProblem
    hessian: np.ndarray
    mean: np.ndarray
    cross: np.ndarray
    start: np.ndarray
    bias: np.ndarray | None
    columns: np.ndarray

    def ridge(self, h: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Ridge least squares on the columns ``keep`` towards the reference, pulled towards ``start``."""
        kept = np.ix_(keep, keep)
        w = np.zeros_like(self.start)
        w[:, keep] = ridge_solve(self.hessian[kept], h[kept], self.cross[keep], self.start[:, keep])
        return w

    def refit_bias(self, w: np.ndarray) -> np.ndarray | None:
        return self.problem.bias(w[None], self.mean[None], self.bias)

    def kept_bias(self, w: np.ndarray) -> np.ndarray | None:
        """The bias that keeps the layer's mean output where it was (OBS works on the centred inputs)."""
        if self.bias is None and not self.problem.with_bias:
            return None
        base = np.zeros(w.shape[0]) if self.bias is None else self.bias
        return base + (self.start - w) @ self.mean

    def held_error(self, w: np.ndarray, bias: np.ndarray | None) -> float:
        return self.problem.held_error(w[None], bias)


Data = tuple[Sequence[Feeds], Sequence[Feeds]]  # (fitting, held-out) calibration samples


def _fit(
    graph: Graph,
    reference: Graph,
    consumer: GroupConsumer,
    data: Data,
    settings: SequentialSettings,
    seed: int,
) -> _Fit:
    fit, held = data
    ref_node = reference.node_by_name(consumer.node.name)
    problem = LayerProblem(
        sampled_patches(graph, consumer.node, fit, settings.fit_rows, seed),
        reference_outputs(reference, ref_node, fit, settings.fit_rows, seed, consumer.rows),
        sampled_patches(graph, consumer.node, held, settings.held_rows, seed + 1),
        reference_outputs(reference, ref_node, held, settings.held_rows, seed + 1, consumer.rows),
        can_have_bias(consumer.node),
    )
    hessian, mean = problem.hessian()
    x = problem.x[0] - mean[0]
    y = problem.y - (problem.y.mean(axis=0) if problem.with_bias else 0.0)
    bias = bias_vector(consumer.node)
    return _Fit(
        problem,
        hessian[0],
        mean[0],
        x.T @ y,
        weight_matrix(consumer.node).astype(np.float64),
        None if bias is None else bias.astype(np.float64),
        consumer.columns,
    )


Candidate = tuple[str, list[int], list[np.ndarray], list[np.ndarray | None]]


def _remaining(fit: _Fit, removed: Sequence[int]) -> np.ndarray:
    gone = fit.columns[list(removed)].ravel()
    return np.setdiff1d(np.arange(fit.start.shape[1]), gone)


def _candidates(
    fits: list[_Fit], l1_removed: list[int], drop: int, settings: SequentialSettings
) -> Iterator[Candidate]:
    plain = []
    for f in fits:
        w = f.start.copy()
        w[:, f.columns[l1_removed].ravel()] = 0.0
        plain.append(w)
    yield "l1", l1_removed, plain, [f.bias for f in fits]
    refits = all(f.problem.x.shape[1] >= settings.min_rows_per_input * f.start.shape[1] for f in fits)
    for d in settings.dampings:
        hs = [damped(f.hessian[None], d)[0] for f in fits]
        inverses = [np.linalg.inv(h) for h in hs]
        columns = [f.columns for f in fits]
        removed, _, ws = channel_obs([f.start for f in fits], inverses, columns, drop)
        yield f"obs {d:g}", removed, ws, [f.kept_bias(w) for f, w in zip(fits, ws, strict=True)]
        if not refits:
            continue
        ws = [f.ridge(h, _remaining(f, l1_removed)) for f, h in zip(fits, hs, strict=True)]
        yield f"l1 refit {d:g}", l1_removed, ws, [f.refit_bias(w) for f, w in zip(fits, ws, strict=True)]
        starts = [f.ridge(h, np.arange(f.start.shape[1])) for f, h in zip(fits, hs, strict=True)]
        removed, _, ws = channel_obs(starts, inverses, columns, drop)
        yield f"refit+obs {d:g}", removed, ws, [f.refit_bias(w) for f, w in zip(fits, ws, strict=True)]


def choose_group(
    graph: Graph,
    reference: Graph,
    consumers: list[GroupConsumer],
    data: Data,
    l1_keep: np.ndarray,
    keep: int,
    settings: SequentialSettings,
) -> GroupChoice:
    """The candidate with the smallest held-out output error of the consumers; ``data`` is (fit, held)."""
    fits = [_fit(graph, reference, c, data, settings, settings.seed + 2 * i) for i, c in enumerate(consumers)]
    channels = consumers[0].columns.shape[0]
    l1_removed = sorted(set(range(channels)) - {int(c) for c in l1_keep})
    best: tuple[float, Candidate] | None = None
    l1_error = 0.0
    for candidate in _candidates(fits, l1_removed, channels - keep, settings):
        label, _, ws, biases = candidate
        error = sum(f.held_error(w, b) for f, w, b in zip(fits, ws, biases, strict=True))
        l1_error = error if label == "l1" else l1_error
        if best is None or error < best[0]:
            best = (error, candidate)
    assert best is not None
    error, (label, removed, ws, biases) = best
    kept = [w[:, _remaining(f, removed)] for f, w in zip(fits, ws, strict=True)]
    keep_channels = np.setdiff1d(np.arange(channels), removed)
    return GroupChoice(keep_channels, kept, biases, label, error, l1_error)
