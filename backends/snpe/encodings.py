"""The engine's calibration as SNPE encodings overrides (AIMET's JSON format).

``snpe-onnx-to-dlc --quantization_overrides FILE`` reads encodings in the
format AIMET exports (REFERENCE B1), and ``snpe-dlc-quantize
--override_params`` keeps them instead of computing its own::

    {"version": "0.6.1",
     "activation_encodings": {"tensor": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False",
                                          "min": ..., "max": ..., "offset": ..., "scale": ...}]},
     "param_encodings": {"weight": [one entry per output channel]}}

AIMET's offset is the negated zero point (``real = (q + offset) * scale``).
Activations: the engine's range converted to SNPE's asymmetric uint8
encoding (REFERENCE B3: range holding 0.0 and at least 0.01 wide, 0.0
exactly representable; ``SNPE_SCHEME``'s ``asymmetric_params``), so min and
max are the grid's ends. Weights of Conv/ConvTranspose/Gemm (SNPE's
``--use_per_channel_quantization`` layers): the engine's per-channel
symmetric scales with ``offset == -2^(bits-1)``, as B3 requires of
per-channel overrides. Only the SDK can check that the DLC it builds
from them is right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgec.plugin import Calibration, Graph, Op, QuantParams, QuantScheme, asymmetric_params, weighted_nodes

OVERRIDES_FILE = "quantization_overrides.json"
AIMET_VERSION = "0.6.1"

# SNPE/QAIRT: TF-style asymmetric uint8 activations, ranges at least 0.01 wide (B3); the SDK's
# converter quantizes the float weights itself.
SNPE_SCHEME = QuantScheme(
    symmetric=False,
    activation_dtype="uint8",
    placement="all",
    float_fallback=None,
    min_range=0.01,
    reconstruct_by_default=False,
)
BITS = 8
_PER_CHANNEL_OPS = frozenset({Op.CONV, Op.CONV_TRANSPOSE, Op.GEMM})


def _entry(minimum: float, maximum: float, scale: float, offset: int, symmetric: bool) -> dict[str, Any]:
    return {
        "bitwidth": BITS,
        "dtype": "int",
        "is_symmetric": str(symmetric),
        "max": float(maximum),
        "min": float(minimum),
        "offset": int(offset),
        "scale": float(scale),
    }


def activation_encoding(params: QuantParams) -> dict[str, Any]:
    """An asymmetric uint8 encoding: the grid's ends, AIMET's offset ``-zero_point``."""
    scale, zero = float(np.float32(params.scale)), int(params.zero_point)
    return _entry(-zero * scale, (255 - zero) * scale, scale, -zero, symmetric=False)


def weight_encodings(params: QuantParams) -> list[dict[str, Any]]:
    """Per-channel symmetric int8 encodings (offset -128), one per output channel."""
    half = 1 << (BITS - 1)
    scales = np.atleast_1d(np.asarray(params.scale, np.float32)).astype(np.float64)
    return [_entry(-half * s, (half - 1) * s, s, -half, symmetric=True) for s in scales.tolist()]


def activation_params(calibration: Calibration) -> dict[str, QuantParams]:
    """The engine's activation ranges in SNPE's uint8 encoding, per tensor name."""
    scheme = calibration.scheme
    return {
        name: asymmetric_params(low, high, "uint8", scheme.min_range)
        for name, (low, high) in calibration.ranges.items()
    }


def overrides(graph: Graph, calibration: Calibration) -> dict[str, Any]:
    """The AIMET-format overrides of the engine's calibration of ``graph``."""
    params: dict[str, list[dict[str, Any]]] = {}
    for node in weighted_nodes(graph):
        weight = node.input(1)
        assert weight is not None
        if node.op in _PER_CHANNEL_OPS and weight.quant is not None and weight.quant.axis is not None:
            params[weight.name] = weight_encodings(weight.quant)
    activations = {
        name: [activation_encoding(p)] for name, p in sorted(activation_params(calibration).items())
    }
    return {
        "version": AIMET_VERSION,
        "activation_encodings": activations,
        "param_encodings": dict(sorted(params.items())),
    }
