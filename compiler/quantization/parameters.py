"""``calibrate``: statistics -> ranges -> quantization parameters on the IR's values.

Every float activation (graph inputs and node outputs) gets ``Value.quant``
per tensor from the chosen method and the backend's scheme; every weight of
Conv/ConvTranspose/Gemm/MatMul gets symmetric int8 parameters per output
channel from its largest magnitude (minmax: the rule TensorRT, TFLite and
SNPE apply to weights, so a backend that quantizes weights itself arrives
at the same scales). The ``Calibration`` keeps the statistics, so other
methods or schemes can be tried without running the model again.

A Softmax's input (class or attention scores) is quantized over its whole
observed range whatever the method: its largest values are the winners,
rare by design, and clipping them (a percentile) flattens the probabilities
(PP-OCRv4's recognizer: its 6625 class scores' top clipped at 7.2 instead of
18.1, the simulated probabilities' cosine 0.92). Under TFLite's scheme,
Sigmoid/Softmax/Tanh outputs take the grids TFLite's integer kernels fix and
pooling and data movement their input's (``FIXED_OUTPUT_RANGES``,
``SAME_RANGE_OPS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node, QuantParams, Value
from edgec.ir.ops import Op
from edgec.quantization.collect import (
    DEFAULT_BINS,
    WEIGHTED,
    Statistics,
    TensorStats,
    activation_values,
    collect_statistics,
)
from edgec.quantization.options import ROUNDING_MODES
from edgec.quantization.ranges import DEFAULT_PERCENTILE, METHODS, asymmetric_range, symmetric_amax
from edgec.quantization.scheme import (
    QuantScheme,
    asymmetric_params,
    power_of_two_scale,
    range_params,
    symmetric_params,
    symmetric_scale,
)

# The output ranges TFLite's integer kernels fix (REFERENCE C1; tensorflow/lite/kernels/activations.cc):
# LOGISTIC and SOFTMAX scale 1/256 with zero point -128 (int8) or 0 (uint8), TANH scale 1/128 with
# zero point 0 (int8) or 128 (uint8). Asymmetric parameters over these ranges are exactly those.
FIXED_OUTPUT_RANGES = {
    Op.SIGMOID: (0.0, 255 / 256),
    Op.SOFTMAX: (0.0, 255 / 256),
    Op.TANH: (-1.0, 127 / 128),
}

# Ops whose int8 output TFLite's kernels give their input's parameters (max and average pooling,
# data movement); the converter refuses an AveragePool whose two differ.
SAME_RANGE_OPS = frozenset(
    {
        Op.MAX_POOL,
        Op.GLOBAL_MAX_POOL,
        Op.AVERAGE_POOL,
        Op.RESHAPE,
        Op.FLATTEN,
        Op.SQUEEZE,
        Op.UNSQUEEZE,
        Op.TRANSPOSE,
        Op.IDENTITY,
        Op.PAD,
        Op.SLICE,
        Op.SPLIT,
        Op.GATHER,
    }
)

# Graph outputs' range, when the artifact's outputs are quantized: calibration's min/max times this.
# EfficientNet-Lite0's logits on held-out photographs reach 1.36x the calibration photographs' maximum.
OUTPUT_HEADROOM = 1.5


@dataclass(frozen=True)
class CalibrationConfig:
    """How ranges are measured, and whether biases are corrected (on by default: in
    bench/quantization.py it raised the int8 SNR of EfficientNet-Lite0 for every method)."""

    method: str = "entropy"
    percentile: float = field(default=DEFAULT_PERCENTILE, metadata={"help": "for method percentile"})
    bins: int = DEFAULT_BINS
    bias_correction: bool = True
    # Off by default: in bench/quantization.py it did not raise EfficientNet-Lite0's top-1 agreement
    # (per-channel weights make it invisible to the weights; the error there is within channels).
    equalize: bool = field(
        default=False,
        metadata={"help": "cross-layer equalization (edgec.quantization.equalization) before calibrating"},
    )
    reconstruct: str = field(
        default="off",
        metadata={
            "help": "rounding of the int8 weights on the calibration data: gptq | adaround | off "
            "(nearest; edgec.quantization.rounding)"
        },
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; known: {', '.join(METHODS)}")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], not {self.percentile}")
        if self.reconstruct not in ROUNDING_MODES:
            known = ", ".join(ROUNDING_MODES)
            raise ValueError(f"reconstruct must be one of {known}, not {self.reconstruct!r}")


@dataclass
class Calibration:
    """The result of ``calibrate``: ranges per activation; the parameters are on the graph's values."""

    config: CalibrationConfig
    scheme: QuantScheme
    statistics: Statistics
    ranges: dict[str, tuple[float, float]]

    def report(self) -> dict[str, Any]:
        return {
            "method": self.config.method,
            "equalize": self.config.equalize,
            "reconstruct": self.config.reconstruct,
            "percentile": self.config.percentile if self.config.method == "percentile" else None,
            "samples": self.statistics.samples,
            "source": Path(self.statistics.source).name,
            "scheme": self.scheme.as_dict(),
            "activations": len(self.ranges),
        }


def weight_axis(node: Node) -> int | None:
    """The output-channel axis of ``node``'s weight (input 1), None when per-channel does not apply."""
    weight = node.input(1)
    if weight is None or weight.shape is None:
        return None
    if node.op is Op.CONV:
        return 0
    if node.op is Op.CONV_TRANSPOSE:
        return 1 if node.attrs.get("group", 1) == 1 else None
    if node.op is Op.GEMM:
        return 0 if node.attrs.get("transB", 0) else 1
    if node.op is Op.MATMUL and len(weight.shape) == 2:
        return 1
    return None


def weight_params(node: Node, scheme: QuantScheme) -> QuantParams:
    """Symmetric int8 parameters of ``node``'s constant weight, per channel where the scheme says so."""
    weight = node.input(1)
    assert weight is not None and weight.data is not None
    data = weight.data.astype(np.float64)
    axis = weight_axis(node) if scheme.per_channel_weights else None
    if axis is not None:
        rows = np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1)
    else:
        rows = data.reshape(1, -1)
    amax = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows))
    scale = power_of_two_scale(amax, rows) if scheme.power_of_two else symmetric_scale(amax)
    return symmetric_params(scale if axis is not None else scale[0], axis)


def activation_params(
    stats: TensorStats, config: CalibrationConfig, scheme: QuantScheme
) -> tuple[QuantParams, tuple[float, float]]:
    if not scheme.symmetric:
        low, high = asymmetric_range(stats, config.method, config.percentile)
        return asymmetric_params(low, high, scheme.activation_dtype, scheme.min_range), (low, high)
    amax = symmetric_amax(stats, config.method, config.percentile)
    if not scheme.power_of_two:
        return symmetric_params(symmetric_scale(amax)), (-amax, amax)
    values, counts = np.zeros(0), None
    if stats.histogram is not None and stats.amax > 0:
        counts, edges = stats.abs_histogram()
        values = (edges[1:] + edges[:-1]) / 2
    scale = power_of_two_scale(np.asarray(amax), values, counts, low=-128)
    return symmetric_params(scale), (-amax, amax)


def output_params(stats: TensorStats, scheme: QuantScheme) -> tuple[QuantParams, tuple[float, float]]:
    """A quantized graph output's parameters: what calibration saw, widened by ``OUTPUT_HEADROOM``.

    Not the method's range: a range fitted to the calibration data (percentile,
    or the largest of a few samples) clips the largest outputs on other data,
    and clipped logits tie at the top (EfficientNet-Lite0's int8 .tflite on
    held-out photographs: 64 % top-1 agreement with percentile's range, 95 %
    with this). Headroom costs resolution instead; 1.2x to 2x measured alike.
    """
    low, high = OUTPUT_HEADROOM * stats.minimum, OUTPUT_HEADROOM * stats.maximum
    if scheme.symmetric:
        amax = max(abs(low), abs(high))
        low, high = -amax, amax
    return range_params(scheme, low, high), (low, high)


def fixed_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """Value name -> the fixed range of each Sigmoid, Softmax and Tanh output (``FIXED_OUTPUT_RANGES``)."""
    return {
        node.outputs[0].name: FIXED_OUTPUT_RANGES[node.op]
        for node in graph.nodes
        if node.op in FIXED_OUTPUT_RANGES
    }


def same_range_inputs(graph: Graph) -> dict[str, Value]:
    """Output name -> input of each op that keeps its input's parameters (``SAME_RANGE_OPS``)."""
    return {
        output.name: node.inputs[0]
        for node in graph.nodes
        if node.op in SAME_RANGE_OPS and node.inputs and node.inputs[0] is not None
        for output in node.outputs
    }


def weighted_nodes(graph: Graph) -> list[Node]:
    """Conv/ConvTranspose/Gemm/MatMul nodes whose input 1 is a constant float weight."""
    return [
        node
        for node in graph.nodes_of(*WEIGHTED)
        if (w := node.input(1)) is not None and w.is_constant and np.issubdtype(w.dtype, np.floating)
    ]


def calibrate(
    graph: Graph,
    data: Dataset | Statistics,
    config: CalibrationConfig | None = None,
    scheme: QuantScheme | None = None,
) -> Calibration:
    """Set ``Value.quant`` on every float activation and weight of ``graph``.

    ``data`` is the calibration set, or the ``Statistics`` of an earlier run
    on the same graph (to try another method or scheme without running it).
    """
    config = config or CalibrationConfig()
    scheme = scheme or QuantScheme()
    if isinstance(data, Dataset):
        needs_histograms = config.method != "minmax" or scheme.power_of_two
        statistics = collect_statistics(graph, data, config.bins, histograms=needs_histograms)
    else:
        statistics = data
    ranges = {}
    # Placement "all": the artifact's outputs are integers too (an int8 .tflite ends in int8).
    quantized_outputs = {v.name for v in graph.outputs} if scheme.placement == "all" else set()
    fixed = fixed_ranges(graph) if scheme.fixed_output_ranges else {}
    same = same_range_inputs(graph) if scheme.fixed_output_ranges else {}
    scores = {n.inputs[0].name for n in graph.nodes_of(Op.SOFTMAX) if n.inputs and n.inputs[0] is not None}
    unclipped = replace(config, method="minmax")
    for value in activation_values(graph):
        stats = statistics.tensors.get(value.name)
        if stats is None:
            raise ValueError(f"the statistics have no entry for '{value.name}': they come from another graph")
        source = same.get(value.name)
        if value.name in fixed:
            ranges[value.name] = fixed[value.name]
            value.quant = asymmetric_params(*fixed[value.name], scheme.activation_dtype)
        elif source is not None and source.name in ranges:
            ranges[value.name], value.quant = ranges[source.name], source.quant
        elif value.name in quantized_outputs:
            value.quant, ranges[value.name] = output_params(stats, scheme)
        elif value.name in scores:
            value.quant, ranges[value.name] = activation_params(stats, unclipped, scheme)
        else:
            value.quant, ranges[value.name] = activation_params(stats, config, scheme)
    for node in weighted_nodes(graph):
        weight = node.input(1)
        assert weight is not None
        weight.quant = weight_params(node, scheme)
    return Calibration(config, scheme, statistics, ranges)
