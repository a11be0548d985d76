"""``quantize``: calibration, bias correction, simulation, accuracy budget, mixed precision.

One call does what a quantized build needs before a backend emits:

1. equalize ``graph`` (cross-layer equalization, ``equalization.py``) when the
   config says so; for symmetric schemes, fit bounded activations and an image
   input to int8's grid (``grids.py``); then calibrate it on the calibration
   data (``Value.quant`` everywhere);
2. round the weights with GPTQ or AdaRound on the calibration data when the
   config says so (``rounding.py``), then compute bias corrections (unless turned off);
3. build the Q/DQ simulation and measure it against the float graph on the
   validation data (the calibration data when there is none);
4. when a budget is missed and the scheme allows float layers: rank the
   layers by sensitivity and keep the most sensitive ones in float until the
   budget is met (at most ``max_float_layers``, default half the layers);
5. give the quantized layers of ``graph`` their corrected biases.

The steps that change ``graph`` (``equalize``, ``fit-int8-grid``,
``calibrate``, ``bias-correction``) run through the pass manager
(``run_step``), so the build's instruments (verification, ``--dump-ir``,
timing) see them as passes.

The result says whether the budgets were met; ``edgec build`` turns a miss
into ``AccuracyError`` (exit code 7, see ``build.quantize_for_build``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgec.budget import Budget, check_measurable, unmet
from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph
from edgec.metrics import Metrics
from edgec.passes.manager import run_step
from edgec.quantization.bias import apply_bias_corrections, bias_corrections
from edgec.quantization.equalization import equalize_for_calibration
from edgec.quantization.evaluation import evaluate, run_dataset
from edgec.quantization.grids import GridFit, fit_grids
from edgec.quantization.islands import Island
from edgec.quantization.learned_rounding import adaround_rounding
from edgec.quantization.parameters import Calibration, CalibrationConfig, calibrate
from edgec.quantization.qdq import clone_graph, quantize_qdq, quantized_layers
from edgec.quantization.rounding import gptq_rounding
from edgec.quantization.scheme import QuantScheme
from edgec.quantization.sensitivity import LayerSensitivity, layer_sensitivity, mixed_precision

DEFAULT_SENSITIVITY_SAMPLES = 64


@dataclass
class QuantizationResult:
    """What ``quantize`` did and measured. ``qdq`` is the simulation model (the TensorRT Q/DQ model)."""

    calibration: Calibration
    qdq: Graph
    metrics: Metrics
    calibration_data: Dataset
    validation_data: Dataset
    layers: list[str]
    float_layers: list[str] = field(default_factory=list)
    budgets: tuple[Budget, ...] = ()
    missed: list[Budget] = field(default_factory=list)
    sensitivity: list[LayerSensitivity] | None = None
    bias_corrected: list[str] = field(default_factory=list)
    rounded: dict[str, np.ndarray] = field(default_factory=dict)
    grids: GridFit = field(default_factory=GridFit)
    # The calibrated graph before its biases were corrected: the float side of ``qdq``, tensor by tensor.
    float_graph: Graph | None = None
    islands: list[Island] = field(default_factory=list)

    @property
    def budget_met(self) -> bool:
        return not self.missed

    def report(self) -> dict[str, Any]:
        """The ``quantization`` section of report.json."""
        scheme = self.calibration.scheme
        return {
            "calibration": self.calibration.report(),
            "validation": {
                "source": Path(self.validation_data.source).name,
                "samples": len(self.validation_data),
            },
            "simulation": "Q/DQ model under ONNX Runtime (CPU) against the float graph",
            "metrics": self.metrics.as_dict(),
            "budgets": [
                {"budget": b.text(), "result": b.describe(self.metrics), "met": b.met(self.metrics)}
                for b in self.budgets
            ],
            "bias_correction": {"enabled": bool(self.bias_corrected), "layers": len(self.bias_corrected)},
            "reconstruction": {
                "enabled": self.calibration.config.reconstruct != "off",
                "rounding": self.calibration.config.reconstruct,
                "layers": len(self.rounded),
            },
            "int8_grid": self.grids.report(),
            "quantized_layers": len(set(self.layers) - set(self.float_layers)),
            "float_layers": [
                {"layer": name, "precision": scheme.float_fallback} for name in self.float_layers
            ],
            "float_islands": [island.as_dict() for island in self.islands],
            "sensitivity": [entry.as_dict() for entry in self.sensitivity] if self.sensitivity else None,
        }


def quantize(
    graph: Graph,
    calibration_data: Dataset,
    validation_data: Dataset | None = None,
    config: CalibrationConfig | None = None,
    scheme: QuantScheme | None = None,
    budgets: Sequence[Budget] = (),
    max_float_layers: int | None = None,
    sensitivity_samples: int = DEFAULT_SENSITIVITY_SAMPLES,
    islands: Sequence[Island] = (),
) -> QuantizationResult:
    """Quantize ``graph`` in place (parameters, corrected biases) and measure the simulation.
    ``islands`` (``edgec.quantization.islands``) stay in float from the start."""
    config = config or CalibrationConfig()
    scheme = scheme or QuantScheme()
    validation = validation_data if validation_data is not None else calibration_data
    if config.equalize:
        run_step(graph, "equalize", lambda g: equalize_for_calibration(g, calibration_data), int)
    grids = run_step(
        graph, "fit-int8-grid", lambda g: fit_grids(g, scheme, calibration_data, config), GridFit.rewrites
    )
    calibration = run_step(
        graph, "calibrate", lambda g: _calibrate(g, calibration_data, config, scheme, grids), _ranges
    )
    rounded = _weight_rounding(graph, calibration_data, config.reconstruct, scheme)
    corrections = bias_corrections(graph, calibration, rounded) if config.bias_correction else {}
    reference = run_dataset(graph, validation, "float reference")
    island_names = [island.node for island in islands]
    qdq = quantize_qdq(graph, scheme.placement, island_names, biases=corrections, rounded=rounded)
    metrics = evaluate(qdq, validation, reference)
    check_measurable(budgets, metrics, validation.source)
    layers = [node.name for node in quantized_layers(graph, scheme.placement)]
    result = QuantizationResult(
        calibration,
        qdq,
        metrics,
        calibration_data,
        validation,
        layers,
        budgets=tuple(budgets),
        float_layers=island_names,
        rounded=rounded,
        grids=grids,
        islands=list(islands),
    )
    result.missed = unmet(budgets, metrics)
    if result.missed and scheme.float_fallback is not None:
        _mixed_precision(graph, result, reference, corrections, max_float_layers, sensitivity_samples)
    result.bias_corrected = [name for name in corrections if name not in result.float_layers]
    result.float_graph = clone_graph(graph)
    skip = result.float_layers
    run_step(graph, "bias-correction", lambda g: apply_bias_corrections(g, corrections, skip), int)
    return result


def _calibrate(
    graph: Graph, data: Dataset, config: CalibrationConfig, scheme: QuantScheme, grids: GridFit
) -> Calibration:
    """Every activation's parameters from ``data``, then those ``grids`` fixed."""
    calibration = calibrate(graph, data, config, scheme)
    grids.fix(graph)
    return calibration


def _ranges(calibration: Calibration) -> int:
    return len(calibration.ranges)


def _weight_rounding(graph: Graph, data: Dataset, mode: str, scheme: QuantScheme) -> dict[str, np.ndarray]:
    """int8 weights by layer name for the rounding ``mode``; none (nearest) for ``off``."""
    if mode == "gptq":
        return gptq_rounding(graph, data)
    if mode == "adaround":
        return adaround_rounding(graph, data, scheme.placement)
    return {}


def _mixed_precision(
    graph: Graph,
    result: QuantizationResult,
    reference: dict[str, Any],
    corrections: dict[str, Any],
    max_float_layers: int | None,
    sensitivity_samples: int,
) -> None:
    placement = result.calibration.scheme.placement
    always_float = [island.node for island in result.islands]
    nodes = [node for node in quantized_layers(graph, placement) if node.name not in always_float]
    subset = result.validation_data.head(sensitivity_samples)
    subset_reference = {name: array[:sensitivity_samples] for name, array in reference.items()}
    result.sensitivity = layer_sensitivity(
        graph, nodes, subset, subset_reference, placement, corrections, result.rounded, always_float
    )
    limit = len(nodes) // 2 if max_float_layers is None else max_float_layers
    mixed = mixed_precision(
        graph,
        result.sensitivity,
        result.validation_data,
        reference,
        result.budgets,
        limit,
        placement,
        corrections,
        result.rounded,
        always_float,
    )
    if mixed is None:
        return
    result.float_layers, result.qdq, result.metrics = mixed.float_layers, mixed.qdq, mixed.metrics
    result.missed = unmet(result.budgets, mixed.metrics)
