"""Per-layer int8 weight error of a quantized build, for report.json and report.html.

For every layer the build quantized, the SNR of its weights after rounding to
the int8 grid (GPTQ's integers where GPTQ rounded the layer, else
round-to-nearest as ONNX QuantizeLinear): 10 log10(sum w^2 / sum (w - w_q)^2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgec.ir.graph import Graph
from edgec.metrics import snr_from_energy
from edgec.quantization.quantize_graph import QuantizationResult
from edgec.quantization.scheme import dequantize_array, quantize_array


def _snr_db(reference: np.ndarray, error: np.ndarray) -> float | None:
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    snr = snr_from_energy(signal, float(np.sum(error.astype(np.float64) ** 2)))
    return round(snr, 3) if math.isfinite(snr) else None  # exact or all-zero weights: no finite SNR


ROUNDING_NAMES = {"gptq": "GPTQ", "adaround": "AdaRound", "off": "nearest"}


def weight_errors(graph: Graph, quantized: QuantizationResult) -> list[dict[str, Any]]:
    """One row per quantized layer with a constant weight: layer, op, weight SNR, rounding."""
    kept_float = set(quantized.float_layers)
    layers = set(quantized.layers) - kept_float
    rows = []
    for node in graph.nodes:
        weight = node.input(1) if node.name in layers and len(node.inputs) > 1 else None
        if weight is None or weight.data is None or weight.quant is None:
            continue
        ints = quantized.rounded.get(node.name)
        rounding = ROUNDING_NAMES[quantized.calibration.config.reconstruct] if ints is not None else "nearest"
        if ints is None:
            ints = quantize_array(weight.data, weight.quant)
        error = weight.data - dequantize_array(ints, weight.quant)
        rows.append(
            {
                "layer": node.name,
                "op": node.op.value,
                "weight_snr_db": _snr_db(weight.data, error),
                "rounding": rounding,
            }
        )
    return rows
