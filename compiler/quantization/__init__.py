"""edgec.quantization: one calibration for every backend, measured before anything ships.

Public API (stable for the backends; imported lazily, so ``import edgec.quantization`` is cheap):

Data
    ``Preprocess``, ``parse_preprocess(text)``: the image preprocessing spec.
    ``Dataset``, ``load_dataset(path, inputs, preprocess=None, count=None, purpose=...)``:
    images, .npz/.npy or a directory of .npz files, optionally labelled.
Calibration
    ``CalibrationConfig(method, percentile, bins, bias_correction, equalize)``; ``METHODS``.
    ``QuantScheme(symmetric, activation_dtype, per_channel_weights, power_of_two, placement,
    float_fallback)`` and the presets ``TENSORRT_SCHEME``, ``TFLITE_SCHEME``, ``SNPE_SCHEME``.
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
    ``QuantizationResult``: all of the above in one call (what ``edgec build`` runs);
    ``QuantizationResult.calibration_cache(tensorrt_version)`` is its TensorRT cache.
Held-out share and per-layer debugger
    ``split_calibration(path, inputs, preprocess, count)`` -> ``Split`` (the last 20 %, at least 8,
    held out to judge) or None; ``compare_tensors(float_graph, qdq, feeds)`` -> ``TensorTable``
    (per-tensor SNR/cosine, ``first_jump()``); ``float_islands(result, dataset, count)``.
TensorRT calibration cache
    ``write_cache(scales, version)``, ``parse_cache(text)``, ``cache_scales(graph)``,
    ``version_int("8.6.1")``.

In ``edgec build`` the backend receives the ``QuantizationResult`` as
``BuildRequest.options["quantization"]``: ``.qdq`` (the Q/DQ graph),
``.float_layers``, ``.calibration`` (ranges, scheme, statistics),
``.calibration_data`` (the calibration ``Dataset``, e.g. TFLite's
representative dataset or SNPE's input list). A backend states its scheme
with an optional method ``quantization_scheme(target) -> QuantScheme``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Preprocess": "preprocess",
    "parse_preprocess": "preprocess",
    "Dataset": "data",
    "load_dataset": "data",
    "CalibrationConfig": "calibration",
    "Calibration": "calibration",
    "calibrate": "calibration",
    "METHODS": "ranges",
    "QuantScheme": "scheme",
    "TENSORRT_SCHEME": "scheme",
    "TFLITE_SCHEME": "scheme",
    "SNPE_SCHEME": "scheme",
    "Statistics": "collect",
    "collect_statistics": "collect",
    "quantize_qdq": "qdq",
    "quantized_layers": "qdq",
    "Metrics": "metrics",
    "run_dataset": "metrics",
    "evaluate": "metrics",
    "compare_outputs": "metrics",
    "bias_corrections": "bias",
    "apply_bias_corrections": "bias",
    "gptq_rounding": "rounding",
    "adaround_rounding": "learned_rounding",
    "Budget": "gate",
    "parse_budget": "gate",
    "layer_sensitivity": "sensitivity",
    "mixed_precision": "sensitivity",
    "QuantizationResult": "engine",
    "quantize": "engine",
    "write_cache": "tensorrt_cache",
    "split_calibration": "holdout",
    "compare_tensors": "debug",
    "float_islands": "debug",
    "parse_cache": "tensorrt_cache",
    "cache_scales": "tensorrt_cache",
    "version_int": "tensorrt_cache",
}

__all__ = [
    "METHODS",
    "SNPE_SCHEME",
    "TENSORRT_SCHEME",
    "TFLITE_SCHEME",
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
    "cache_scales",
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
    "parse_cache",
    "parse_preprocess",
    "quantize",
    "quantize_qdq",
    "quantized_layers",
    "run_dataset",
    "split_calibration",
    "version_int",
    "write_cache",
]

if TYPE_CHECKING:
    from edgec.quantization.bias import apply_bias_corrections, bias_corrections
    from edgec.quantization.calibration import Calibration, CalibrationConfig, calibrate
    from edgec.quantization.collect import Statistics, collect_statistics
    from edgec.quantization.data import Dataset, load_dataset
    from edgec.quantization.debug import compare_tensors, float_islands
    from edgec.quantization.engine import QuantizationResult, quantize
    from edgec.quantization.gate import Budget, parse_budget
    from edgec.quantization.holdout import split_calibration
    from edgec.quantization.learned_rounding import adaround_rounding
    from edgec.quantization.metrics import Metrics, compare_outputs, evaluate, run_dataset
    from edgec.quantization.preprocess import Preprocess, parse_preprocess
    from edgec.quantization.qdq import quantize_qdq, quantized_layers
    from edgec.quantization.ranges import METHODS
    from edgec.quantization.rounding import gptq_rounding
    from edgec.quantization.scheme import SNPE_SCHEME, TENSORRT_SCHEME, TFLITE_SCHEME, QuantScheme
    from edgec.quantization.sensitivity import layer_sensitivity, mixed_precision
    from edgec.quantization.tensorrt_cache import cache_scales, parse_cache, version_int, write_cache


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgec.quantization' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgec.quantization.{_EXPORTS[name]}"), name)
