"""Quantization schemes (what a backend needs) and the parameters they give a range.

A ``QuantScheme`` says how activations are quantized (symmetric int8 with
zero point 0, or asymmetric int8/uint8 with a zero point), whether weights
are per channel, whether scales must be powers of two, where Q/DQ pairs go,
and which float precision layers fall back to (None: the target runs no
float layers). Backends offer theirs with ``quantization_scheme(target)``
(the presets live in each backend's package).

Parameters follow ONNX's ``real = (q - zero_point) * scale``:

- symmetric: ``scale = amax / 127``, zero point 0, activations saturate to
  [-128, 127], weights are rounded into [-127, 127] (REFERENCE A3);
- asymmetric: ``scale = (high - low) / 255`` over a range widened to hold
  0.0, zero point ``round(qmin - low / scale)``, so 0.0 is exact;
- power of two (REFERENCE D3, dynamic fixed point): ``scale = 2^-fl``; of
  the two powers around ``amax / 127``, the one of least squared error on
  the data (the histogram, or the weights themselves) wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgec.ir.graph import QuantParams

Placement = Literal["tensorrt", "all"]
PLACEMENTS: tuple[str, ...] = ("tensorrt", "all")
INT8_BOUND = 127
# Keeps scales strictly positive (TensorRT requires it) for tensors that are all zero.
_MIN_AMAX = 1e-12


@dataclass(frozen=True)
class QuantScheme:
    """How a backend quantizes. ``placement``: ``tensorrt`` (REFERENCE A3) or ``all`` activations."""

    symmetric: bool = True
    activation_dtype: str = "int8"
    per_channel_weights: bool = True
    power_of_two: bool = False
    placement: Placement = "tensorrt"
    float_fallback: str | None = "fp32"
    min_range: float = field(default=0.0, metadata={"help": "asymmetric: least high - low (SNPE B3: 0.01)"})
    reconstruct_by_default: bool = field(
        default=True,
        metadata={"help": "GPTQ rounding unless asked not to (False where the converter rounds weights)"},
    )
    fixed_output_ranges: bool = field(
        default=False,
        metadata={"help": "Sigmoid/Softmax/Tanh outputs on the fixed grids of TFLite's integer kernels"},
    )
    float_islands: bool = field(
        default=False,
        metadata={"help": "normalizations' and spectra's nodes stay in float (edgec.quantization.islands)"},
    )

    def __post_init__(self) -> None:
        if self.activation_dtype not in ("int8", "uint8"):
            raise ValueError(f"activation_dtype must be int8 or uint8, not {self.activation_dtype!r}")
        if self.symmetric and self.activation_dtype != "int8":
            raise ValueError("symmetric quantization uses int8 (zero point 0)")
        if self.power_of_two and not self.symmetric:
            raise ValueError("power-of-two scales are symmetric (dynamic fixed point has no zero point)")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, not {self.placement!r}")

    def as_dict(self) -> dict[str, object]:
        return {
            "activations": "symmetric int8" if self.symmetric else f"asymmetric {self.activation_dtype}",
            "weights": f"per-{'channel' if self.per_channel_weights else 'tensor'} symmetric int8",
            "power_of_two_scales": self.power_of_two,
            "placement": self.placement,
            "float_fallback": self.float_fallback,
            **({"min_range": self.min_range} if self.min_range else {}),
        }


def squared_error(values: np.ndarray, counts: np.ndarray | None, scale: np.ndarray, low: int) -> np.ndarray:
    """Squared error of symmetric quantization with ``scale`` (one per row), weighted by ``counts``."""
    quant = np.clip(np.round(values / scale), low, INT8_BOUND) * scale
    error = (quant - values) ** 2
    return (error * counts if counts is not None else error).sum(axis=-1)


def power_of_two_scale(
    amax: np.ndarray, values: np.ndarray, counts: np.ndarray | None = None, low: int = -INT8_BOUND
) -> np.ndarray:
    """Per row of ``values``: the power of two at or above ``amax/127``, or the one below, by error."""
    amax = np.maximum(np.asarray(amax, np.float64), _MIN_AMAX)
    upper = np.exp2(np.ceil(np.log2(amax / INT8_BOUND)))
    if values.size == 0:
        return upper
    shape = (-1, 1) if upper.ndim else ()
    up = squared_error(values, counts, upper.reshape(shape), low)
    down = squared_error(values, counts, (upper / 2).reshape(shape), low)
    return np.where(down < up, upper / 2, upper)


def symmetric_params(scale: np.ndarray | float, axis: int | None = None) -> QuantParams:
    scale = np.asarray(scale, dtype=np.float32)
    zero = np.zeros(scale.shape, np.int8)
    return QuantParams(scale=scale, zero_point=zero, dtype=np.dtype(np.int8), axis=axis)


def symmetric_scale(amax: np.ndarray | float) -> np.ndarray:
    return np.maximum(np.asarray(amax, np.float64), _MIN_AMAX) / INT8_BOUND


def asymmetric_params(low: float, high: float, dtype: str, min_range: float = 0.0) -> QuantParams:
    """Parameters over [low, high] widened to hold 0.0 and to ``min_range``, with 0.0 exactly representable.

    With ``min_range`` 0.01 and uint8 this is SNPE's encoding (REFERENCE B3):
    ``high = max(high, low + 0.01)``, grid min ``-zero * scale``, max ``(255 - zero) * scale``.
    """
    qmin, qmax = (-128, 127) if dtype == "int8" else (0, 255)
    low, high = min(low, 0.0), max(high, 0.0)
    high = max(high, low + max(min_range, _MIN_AMAX))
    scale = np.float32((high - low) / (qmax - qmin))
    zero = int(np.clip(np.round(qmin - low / float(scale)), qmin, qmax))
    return QuantParams(
        scale=np.asarray(scale, np.float32),
        zero_point=np.asarray(zero, dtype=dtype),
        dtype=np.dtype(dtype),
        axis=None,
    )


def _broadcast(params: QuantParams, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point shaped to broadcast over an ``ndim``-D tensor (per channel along ``axis``)."""
    scale, zero = np.asarray(params.scale, np.float32), np.asarray(params.zero_point)
    if params.axis is not None and scale.ndim == 1:
        shape = [1] * ndim
        shape[params.axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return scale, zero


def range_params(scheme: QuantScheme, low: float, high: float) -> QuantParams:
    """Per-tensor parameters over [``low``, ``high``] under ``scheme`` (no power-of-two search)."""
    if scheme.symmetric:
        return symmetric_params(symmetric_scale(max(abs(low), abs(high))))
    return asymmetric_params(low, high, scheme.activation_dtype, scheme.min_range)


def quantize_array(data: np.ndarray, params: QuantParams, low: int | None = None) -> np.ndarray:
    """``data`` in integers (float32 arithmetic, round half to even, as ONNX QuantizeLinear)."""
    scale, zero = _broadcast(params, data.ndim)
    info = np.iinfo(params.dtype)
    rounded = np.round(data.astype(np.float32) / scale) + zero.astype(np.float32)
    return np.clip(rounded, info.min if low is None else low, info.max).astype(params.dtype)


def dequantize_array(ints: np.ndarray, params: QuantParams) -> np.ndarray:
    """``(ints - zero_point) * scale`` in float32, as ONNX DequantizeLinear."""
    scale, zero = _broadcast(params, ints.ndim)
    return (ints.astype(np.float32) - zero.astype(np.float32)) * scale
