"""The per-layer int8 debugger: the float graph and its Q/DQ simulation, tensor by tensor.

``compare_tensors`` runs both on the same samples under ONNX Runtime and
measures every float tensor a node computes, in graph order: SNR in dB and
cosine over all samples together. The quantized side of a tensor is what the
quantized model carries into its consumers: its dequantized copy where the
simulation quantizes it, else the tensor itself.

A tensor's error *jumps* when its SNR falls more than ``JUMP_DB`` (10 dB)
below the lowest SNR of the node's computed inputs (graph inputs: exact),
capped at ``CEILING_DB`` (35 dB: one int8 rounding of a well-scaled,
clipped-to-percentile tensor leaves about 38 dB, and a layer adds the
roundings of its input and of its weights): a healthy int8 layer costs a few
dB; a layer with a wrong scale, a clipped range or an outlier-dominated grid
costs tens. Only a node that reads a quantized tensor or quantized weights can
add error: a float node fed float tensors (a channel-scaling ``Mul`` of the grid
rewrites, a residual ``Add`` of unquantized tensors) only reweights the error it
is given, so its SNR may move but it is never a jump. The first jump in graph
order is where to look. (The ceiling was
40 dB until a healthy EfficientNet-Lite0 build showed its first convolution,
fed exact inputs, at 28.8 dB: both roundings had not been counted.)

``float_islands`` ranks the layers by the engine's per-layer sensitivity
(edgec.quantization.sensitivity: only that layer quantized) and measures the
outputs with the first ones kept in float, one more at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.metrics import cosine_from_sums, snr_from_energy
from edgec.quantization.bias import bias_corrections
from edgec.quantization.evaluation import evaluate, run_dataset
from edgec.quantization.qdq import quantize_qdq, quantized_layers
from edgec.quantization.quantize_graph import QuantizationResult
from edgec.quantization.sensitivity import layer_sensitivity
from edgec.runtime import run, session

JUMP_DB = 10.0
CEILING_DB = 35.0
SENSITIVITY_SAMPLES = 32
Feeds = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TensorError:
    """One computed tensor: its SNR (None: the float tensor is all zeros) and its inputs' SNR."""

    tensor: str
    layer: str
    op: str
    snr_db: float | None
    cosine: float
    inputs_snr_db: float
    output: bool
    rounds: bool  # the node reads a quantized tensor or quantized weights in the simulation

    @property
    def drop_db(self) -> float:
        if self.snr_db is None:
            return 0.0
        return min(self.inputs_snr_db, CEILING_DB) - self.snr_db

    @property
    def jump(self) -> bool:
        return self.rounds and self.drop_db > JUMP_DB

    def as_dict(self) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "layer": self.layer,
            "op": self.op,
            "snr_db": _number(self.snr_db),
            "cosine": _number(self.cosine),
            "inputs_snr_db": _number(self.inputs_snr_db),
            "jump": self.jump,
            "output": self.output,
        }


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _db(value: float | None) -> str:
    if value is None:
        return "-"
    return "exact" if value == math.inf else f"{value:.1f} dB"


@dataclass(frozen=True)
class TensorTable:
    tensors: list[TensorError]
    samples: int

    def first_jump(self) -> TensorError | None:
        return next((t for t in self.tensors if t.jump), None)

    def outputs(self) -> list[TensorError]:
        return [t for t in self.tensors if t.output]

    def summary(self) -> str:
        outputs = ", ".join(f"'{t.tensor}' {_db(t.snr_db)}" for t in self.outputs())
        found = self.first_jump()
        if found is None:
            return (
                f"The int8 simulation (Q/DQ model, same samples) has no tensor whose SNR drops more than "
                f"{JUMP_DB:g} dB below its inputs'; its outputs' SNR: {outputs}"
            )
        return (
            f"In the int8 simulation (Q/DQ model, same samples) the error first jumps at layer "
            f"'{found.layer}' ({found.op}), tensor '{found.tensor}': SNR {_db(found.snr_db)} against "
            f"{_db(found.inputs_snr_db)} at its inputs; outputs' SNR: {outputs}"
        )

    def as_dict(self) -> dict[str, Any]:
        found = self.first_jump()
        return {
            "samples": self.samples,
            "jump": f"SNR more than {JUMP_DB:g} dB below its inputs' (capped at {CEILING_DB:g} dB)",
            "first_jump": found.as_dict() if found else None,
            "tensors": [t.as_dict() for t in self.tensors],
        }


class _Sums:
    """Running sums for SNR and cosine over samples (finite positions only)."""

    def __init__(self) -> None:
        self.signal = self.noise = self.dot = self.other = 0.0

    def add(self, ref: np.ndarray, out: np.ndarray) -> None:
        a, b = ref.astype(np.float64).ravel(), out.astype(np.float64).ravel()
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        self.signal += float(a @ a)
        self.noise += float((a - b) @ (a - b))
        self.dot += float(a @ b)
        self.other += float(b @ b)

    def snr_db(self) -> float | None:
        snr = snr_from_energy(self.signal, self.noise)
        return None if snr == -math.inf else snr

    def cosine(self) -> float:
        return cosine_from_sums(self.dot, self.signal, self.other, self.noise)


def _pairs(float_graph: Graph, qdq: Graph) -> dict[str, str]:
    """Float tensor -> the simulation's tensor, for every float tensor a node computes, in graph order."""
    pairs = {}
    for node in float_graph.nodes:
        for value in node.outputs:
            if not np.issubdtype(value.dtype, np.floating):
                continue
            dequantized = f"{value.name}_dequantized"
            if dequantized in qdq.values and qdq.values[dequantized].producer is not None:
                pairs[value.name] = dequantized
            elif value.name in qdq.values:
                pairs[value.name] = value.name
    return pairs


def _rounding_nodes(qdq: Graph) -> set[str]:
    """Names of the simulation's nodes that read a DequantizeLinear's output (a quantized tensor or
    quantized weights): the only nodes that can add error."""
    return {
        node.name
        for node in qdq.nodes
        if any(
            v is not None and v.producer is not None and v.producer.op is Op.DEQUANTIZE_LINEAR
            for v in node.inputs
        )
    }


def _session(graph: Graph, names: Sequence[str], optimize: bool) -> Any:
    outputs = {value.name for value in graph.outputs}
    extra = [name for name in dict.fromkeys(names) if name not in outputs]
    return session(to_onnx(graph, extra_outputs=extra), optimize=optimize)


def _or_exact(value: float | None) -> float:
    """An input's SNR; graph inputs, integer tensors and all-zero tensors count as exact."""
    return math.inf if value is None else value


def compare_tensors(float_graph: Graph, qdq: Graph, feeds: Sequence[Feeds]) -> TensorTable:
    """Per-tensor SNR and cosine of ``qdq`` against ``float_graph`` over ``feeds``, in graph order."""
    pairs = _pairs(float_graph, qdq)
    float_sess = _session(float_graph, list(pairs), optimize=True)
    qdq_sess = _session(qdq, list(pairs.values()), optimize=False)
    sums = {name: _Sums() for name in pairs}
    for feed in feeds:
        ref, out = run(float_sess, feed), run(qdq_sess, feed)
        for name, twin in pairs.items():
            sums[name].add(ref[name], out[twin])
    outputs = {value.name for value in float_graph.outputs}
    rounding = _rounding_nodes(qdq)
    snr: dict[str, float | None] = {}
    table = []
    for node in float_graph.nodes:
        inputs = [_or_exact(snr.get(v.name)) for v in node.inputs if v is not None and not v.is_constant]
        for value in node.outputs:
            if value.name not in sums:
                continue
            snr[value.name] = sums[value.name].snr_db()
            entry = TensorError(
                value.name,
                node.name,
                node.op.value,
                snr[value.name],
                sums[value.name].cosine(),
                min(inputs, default=math.inf),
                value.name in outputs,
                node.name in rounding,
            )
            table.append(entry)
    return TensorTable(table, len(feeds))


def float_islands(result: QuantizationResult, dataset: Dataset, count: int = 3) -> dict[str, Any]:
    """The layers whose keeping in float raises the outputs' SNR most, by the sensitivity ranking."""
    graph = result.float_graph
    assert graph is not None
    placement = result.calibration.scheme.placement
    config = result.calibration.config
    biases = bias_corrections(graph, result.calibration, result.rounded) if config.bias_correction else {}
    data = dataset.head(SENSITIVITY_SAMPLES)
    reference = run_dataset(graph, data, "float reference")
    nodes = quantized_layers(graph, placement)
    ranking = layer_sensitivity(graph, nodes, data, reference, placement, biases, result.rounded)
    kept = list(result.float_layers)
    base = evaluate(quantize_qdq(graph, placement, kept, biases, result.rounded), data, reference)
    islands = []
    for entry in [e for e in ranking if e.layer not in kept][:count]:
        kept.append(entry.layer)
        metrics = evaluate(quantize_qdq(graph, placement, kept, biases, result.rounded), data, reference)
        islands.append(
            {
                "layer": entry.layer,
                "op": entry.op,
                "alone_snr_db": _number(entry.snr_db),
                "outputs_snr_db": _number(metrics.worst("snr_db")),
                "outputs_cosine": _number(metrics.worst("cosine")),
            }
        )
    return {
        "samples": len(data),
        "ranking": "per-layer sensitivity: outputs' worst SNR with only that layer quantized, lowest first",
        "float_fallback": result.calibration.scheme.float_fallback,
        "already_float": list(result.float_layers),
        "outputs_snr_db": _number(base.worst("snr_db")),
        "outputs_cosine": _number(base.worst("cosine")),
        "islands": islands,
    }
