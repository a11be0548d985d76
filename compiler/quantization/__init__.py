"""edgec.quantization: one calibration for every backend, measured before anything ships.

Public API (stable for the backends; imported lazily, so ``import edgec.quantization`` is cheap):

Data
    ``Preprocess``, ``parse_preprocess(text)``: the image preprocessing spec.
    ``Dataset``, ``load_dataset(path, inputs, preprocess=None, count=None, purpose=...)``:
    images, .npz/.npy or a directory of .npz files, optionally labelled.
Calibration
    ``CalibrationConfig(method, percentile, bins, bias_correction, equalize)``; ``METHODS``.
    ``QuantScheme(symmetric, activation_dtype, per_channel_weights, power_of_two, placement,
    float_fallback)``; each backend owns its preset (``quantization_scheme(target)``).
    ``collect_statistics(graph, dataset)`` -> ``Statistics``;
    ``calibrate(graph, dataset_or_statistics, config, scheme)`` -> ``Calibration``: sets
    ``Value.quant`` on every float activation and on Conv/ConvTranspose/Gemm/MatMul weights.
Simulation and metrics
    ``quantize_qdq(graph, placement, float_layers, biases, rounded)`` -> a Q/DQ copy of the graph
    (ONNX Runtime runs it; TensorRT builds from it); ``quantized_layers(graph, placement)``.
    ``run_dataset(graph, dataset)``, ``evaluate(graph, dataset, reference)`` -> ``Metrics``,
    ``compare_outputs(reference, candidate, labels)``.
    ``bias_corrections(graph, calibration, rounded)``, ``apply_bias_corrections(graph, corrections)``.
    ``gptq_rounding(graph, calibration_data)``, ``adaround_rounding(graph, calibration_data)`` ->
    int8 weights by layer name (``CalibrationConfig(reconstruct="gptq" | "adaround")``) for
    ``quantize_qdq(..., rounded=...)``.
Budget and mixed precision
    ``Budget``, ``parse_budget("top1=1")``; ``layer_sensitivity(...)``, ``mixed_precision(...)``.
    ``quantize(graph, calibration_data, validation_data, config, scheme, budgets)`` ->
    ``QuantizationResult``: all of the above in one call (what ``edgec build`` runs).
Held-out share and per-layer debugger
    ``split_calibration(path, inputs, preprocess, count)`` -> ``Split`` (the last 20 %, at least 8,
    held out to judge) or None; ``compare_tensors(float_graph, qdq, feeds)`` -> ``TensorTable``
    (per-tensor SNR/cosine, ``first_jump()``); ``float_islands(result, dataset, count)``.

In ``edgec build`` the backend receives the ``QuantizationResult`` as
``BuildRequest.quantization``: ``.qdq`` (the Q/DQ graph),
``.float_layers``, ``.calibration`` (ranges, scheme, statistics),
``.calibration_data`` (the calibration ``Dataset``, e.g. TFLite's
representative dataset or SNPE's input list). A backend states its scheme
with an optional method ``quantization_scheme(target) -> QuantScheme``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Preprocess": "edgec.data.preprocess",
    "parse_preprocess": "edgec.data.preprocess",
    "Dataset": "edgec.data.datasets",
    "load_dataset": "edgec.data.datasets",
    "CalibrationConfig": "edgec.quantization.parameters",
    "Calibration": "edgec.quantization.parameters",
    "calibrate": "edgec.quantization.parameters",
    "METHODS": "edgec.quantization.ranges",
    "QuantScheme": "edgec.quantization.scheme",
    "Statistics": "edgec.quantization.collect",
    "collect_statistics": "edgec.quantization.collect",
    "quantize_qdq": "edgec.quantization.qdq",
    "quantized_layers": "edgec.quantization.qdq",
    "Metrics": "edgec.metrics",
    "run_dataset": "edgec.quantization.evaluation",
    "evaluate": "edgec.quantization.evaluation",
    "compare_outputs": "edgec.metrics",
    "bias_corrections": "edgec.quantization.bias",
    "apply_bias_corrections": "edgec.quantization.bias",
    "gptq_rounding": "edgec.quantization.rounding",
    "Budget": "edgec.budget",
    "parse_budget": "edgec.budget",
    "layer_sensitivity": "edgec.quantization.sensitivity",
    "mixed_precision": "edgec.quantization.sensitivity",
    "QuantizationResult": "edgec.quantization.quantize_graph",
    "quantize": "edgec.quantization.quantize_graph",
    "split_calibration": "edgec.data.split",
    "compare_tensors": "edgec.quantization.debug",
    "float_islands": "edgec.quantization.debug",
    "adaround_rounding": "edgec.quantization.learned_rounding",
}

__all__ = [
    "METHODS",
    "Budget",
    "Calibration",
    "CalibrationConfig",
    "Dataset",
    "Metrics",
    "Preprocess",
    "QuantScheme",
    "QuantizationResult",
    "Statistics",
    "adaround_rounding",
    "apply_bias_corrections",
    "bias_corrections",
    "calibrate",
    "collect_statistics",
    "compare_outputs",
    "compare_tensors",
    "evaluate",
    "float_islands",
    "gptq_rounding",
    "layer_sensitivity",
    "load_dataset",
    "mixed_precision",
    "parse_budget",
    "parse_preprocess",
    "quantize",
    "quantize_qdq",
    "quantized_layers",
    "run_dataset",
    "split_calibration",
]

if TYPE_CHECKING:
    from edgec.budget import Budget, parse_budget
    from edgec.data.datasets import Dataset, load_dataset
    from edgec.data.preprocess import Preprocess, parse_preprocess
    from edgec.data.split import split_calibration
    from edgec.metrics import Metrics, compare_outputs
    from edgec.quantization.bias import apply_bias_corrections, bias_corrections
    from edgec.quantization.collect import Statistics, collect_statistics
    from edgec.quantization.debug import compare_tensors, float_islands
    from edgec.quantization.evaluation import evaluate, run_dataset
    from edgec.quantization.learned_rounding import adaround_rounding
    from edgec.quantization.parameters import Calibration, CalibrationConfig, calibrate
    from edgec.quantization.qdq import quantize_qdq, quantized_layers
    from edgec.quantization.quantize_graph import QuantizationResult, quantize
    from edgec.quantization.ranges import METHODS
    from edgec.quantization.rounding import gptq_rounding
    from edgec.quantization.scheme import QuantScheme
    from edgec.quantization.sensitivity import layer_sensitivity, mixed_precision


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgec.quantization' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
