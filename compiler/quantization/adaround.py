"""Learned rounding of one layer (AdaRound: Nagel et al., "Up or Down? Adaptive Rounding for
Post-Training Quantization", 2020).

Each weight lies between two grid values, ``lower`` and ``upper`` (for int8 ``s * floor(w / s)``
and the step above it). The rounding is learned through a soft variable per weight,
``h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)``, giving
``W~ = lower + h(V) (upper - lower)``, by minimising

    sum over groups of tr((W~ - W) H (W~ - W)^T) / unit  +  lambda * sum(1 - |2 h(V) - 1|^beta)

where ``H = X^T X / n`` is the layer's input Gram matrix over ``n`` sampled positions (so the
first term is the squared output error summed over output channels and averaged over positions,
as AdaRound's loss; ``unit`` makes it independent of the layer's scale, see ``learn_rounding``),
and ``beta`` anneals from 20 to 2 after a warm-up without the regularizer,
which pushes every ``h`` to 0 or 1. Each weight then takes ``upper`` where ``h >= 0.5``.

The loss is a quadratic form in the weights, so ``H`` is all the data it needs: the gradient
is ``2 (W~ - W) H``, one batched matrix product per step whatever the number of samples, and
the chain through ``h`` and the regularizer is closed form. That is why this is numpy and not
an autodiff framework: there is no graph to differentiate, only this one product per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZETA, GAMMA = 1.1, -0.1


@dataclass(frozen=True)
class AdaRoundSettings:
    iterations: int = 500
    learning_rate: float = 0.05  # Adam, on V
    regularization: float = 100.0  # lambda, for the output error in units of `unit` (learn_rounding)
    beta: tuple[float, float] = (20.0, 2.0)  # annealed from, to
    warmup: float = 0.2  # share of the iterations without the regularizer


def _soft(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h(V), dh/dV): the rectified sigmoid and its derivative (zero where clipped)."""
    sigmoid = 1.0 / (1.0 + np.exp(-v))
    stretched = sigmoid * (ZETA - GAMMA) + GAMMA
    inside = (stretched > 0.0) & (stretched < 1.0)
    return np.clip(stretched, 0.0, 1.0), np.where(inside, sigmoid * (1.0 - sigmoid) * (ZETA - GAMMA), 0.0)


def _initial(rest: np.ndarray) -> np.ndarray:
    """V with h(V) = ``rest`` (in [0, 1]): soft rounding starts at the weights themselves."""
    fraction = np.clip((rest - GAMMA) / (ZETA - GAMMA), 1e-4, 1.0 - 1e-4)
    return np.log(fraction / (1.0 - fraction))


def _beta(step: int, settings: AdaRoundSettings) -> float | None:
    """The regularizer's exponent at ``step``, None during the warm-up."""
    start = int(settings.warmup * settings.iterations)
    if step < start:
        return None
    progress = (step - start) / max(settings.iterations - start, 1)
    high, low = settings.beta
    return float(low + 0.5 * (high - low) * (1.0 + np.cos(np.pi * progress)))


def _regularizer_pull(h: np.ndarray, beta: float, weight: float) -> np.ndarray:
    """Minus the gradient of ``weight * (1 - |2h - 1|^beta)`` in ``h``: towards 0 or 1."""
    centred = 2.0 * h - 1.0
    return (2.0 * weight * beta) * np.sign(centred) * np.abs(centred) ** (beta - 1.0)


def learn_rounding(
    w: np.ndarray, gram: np.ndarray, lower: np.ndarray, upper: np.ndarray, settings: AdaRoundSettings
) -> np.ndarray:
    """Where each weight rounds up (bool [groups, rows, cols]).

    ``w``, ``lower``, ``upper``: [groups, rows, cols] with ``lower <= w <= upper``; ``gram``
    [groups, cols, cols], ``X^T X`` of the layer's inputs per group up to a factor: the output
    error is measured in units of the layer's mean squared step times its mean input power
    (``unit``), so that ``settings.regularization`` means the same whatever the layer's scale.
    float32 throughout (the steps are elementwise passes over every weight).
    """
    w32, lo, h_gram = (np.asarray(a, np.float32) for a in (w, lower, gram))
    target = w32 @ h_gram
    step = np.asarray(upper - lower, np.float32)
    unit = float(np.mean(step**2) * np.mean(np.einsum("gii->gi", h_gram))) or 1.0
    rest = np.divide(w32 - lo, step, out=np.zeros_like(w32), where=step > 0)
    v = _initial(rest).astype(np.float32)
    first, second = np.zeros_like(v), np.zeros_like(v)
    b1, b2 = 0.9, 0.999
    for t in range(settings.iterations):
        h, dh = _soft(v)
        grad = (2.0 / unit) * ((lo + h * step) @ h_gram - target) * step
        beta = _beta(t, settings)
        if beta is not None:
            grad -= _regularizer_pull(h, beta, settings.regularization)
        grad *= dh
        first = b1 * first + (1.0 - b1) * grad
        second = b2 * second + (1.0 - b2) * grad * grad
        rate = settings.learning_rate * np.sqrt(1.0 - b2 ** (t + 1)) / (1.0 - b1 ** (t + 1))
        v -= rate * first / (np.sqrt(second) + 1e-8)
    return (v >= 0.0) & (step > 0)  # h(0) = 0.5
