"""The quantization simulation: the IR with QuantizeLinear/DequantizeLinear pairs.

``quantize_qdq`` returns a copy of a calibrated graph in which the inputs
of quantized layers pass through Q/DQ pairs built from ``Value.quant``;
ONNX Runtime runs it, which is how int8 is evaluated before any backend
emits anything, and it is the Q/DQ model TensorRT builds from.

Placement ``tensorrt`` follows REFERENCE A3: Q/DQ on every input of
Conv/ConvTranspose/Gemm/MatMul (activations per tensor, weights per
channel), on the residual inputs of an Add that a weighted layer feeds
(not on the weighted layer's own output, so TensorRT fuses the Add into
it), never on the outputs of weighted layers. Placement ``all`` puts a pair
on every float activation every node reads and on the graph outputs
(integer-only backends: their outputs are integers too). Weights
are stored pre-quantized: an int8 constant and a DequantizeLinear. One pair
per tensor, shared by all its quantized consumers. Layers named in
``float_layers`` read their inputs unquantized.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping

import numpy as np

from edgec.ir.graph import Graph, Node, QuantParams, Value
from edgec.ir.ops import SHAPE_ONLY, Op
from edgec.quantization.bias import apply_bias_corrections
from edgec.quantization.collect import WEIGHTED
from edgec.quantization.parameters import weighted_nodes
from edgec.quantization.scheme import INT8_BOUND, Placement, quantize_array

# Ops that never get Q/DQ on their inputs: they move integers or shapes, or are Q/DQ themselves.
_NEVER = frozenset({Op.QUANTIZE_LINEAR, Op.DEQUANTIZE_LINEAR, *SHAPE_ONLY})


def clone_graph(graph: Graph) -> Graph:
    """A structural copy: new Values and Nodes; constant arrays are shared, not copied."""
    new = Graph(graph.name)
    mapping: dict[int, Value] = {}
    for name, value in graph.values.items():
        twin = Value(name, value.dtype, value.shape, value.layout, value.data, value.quant)
        new.values[name] = twin
        mapping[id(value)] = twin
    new.inputs = [mapping[id(v)] for v in graph.inputs]
    for node in graph.nodes:
        inputs = [mapping[id(v)] if v is not None else None for v in node.inputs]
        outputs = [mapping[id(v)] for v in node.outputs]
        new.add_node(node.op, inputs, outputs, copy.deepcopy(node.attrs), name=node.name)
    new.outputs = [mapping[id(v)] for v in graph.outputs]
    return new


def _quantizable(value: Value | None) -> bool:
    return (
        value is not None
        and not value.is_constant
        and value.quant is not None
        and np.issubdtype(value.dtype, np.floating)
    )


def _activation_inputs(node: Node, placement: Placement) -> list[int]:
    """Indices of the activation inputs of ``node`` that get a Q/DQ pair."""
    candidates = [i for i, v in enumerate(node.inputs) if _quantizable(v)]
    if node.op in _NEVER:
        return []
    if placement == "all":
        return candidates
    if node.op in WEIGHTED:
        return [i for i in candidates if i < 2]
    if node.op is Op.ADD:
        fused = [i for i in candidates if _fusable_producer(node.inputs[i])]
        return [i for i in candidates if i != fused[0]] if fused else []
    return []


def _fusable_producer(value: Value | None) -> bool:
    """Produced by a weighted layer that feeds only this Add (TensorRT fuses the Add into it)."""
    return (
        value is not None
        and value.producer is not None
        and value.producer.op in WEIGHTED
        and len(value.uses) == 1
    )


def quantized_layers(graph: Graph, placement: Placement = "tensorrt") -> list[Node]:
    """The nodes that read quantized inputs under ``placement``: the units of mixed precision."""
    weighted = set(weighted_nodes(graph))
    return [
        node
        for node in graph.nodes
        if _activation_inputs(node, placement)
        or (node in weighted and node.input(1) is not None and node.input(1).quant is not None)
    ]


class _Inserter:
    """Adds Q/DQ pairs to a graph, one per quantized tensor."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.dequantized: dict[str, Value] = {}

    def _pair(
        self, source: Value, quantized: Value, params: QuantParams, before: Node | None, like: Value
    ) -> Value:
        """DequantizeLinear(``quantized``), after QuantizeLinear(``source``) unless it is stored quantized."""
        graph, name = self.graph, like.name
        scale = graph.constant(f"{name}_scale", np.asarray(params.scale, np.float32))
        zero = graph.constant(f"{name}_zero_point", np.asarray(params.zero_point, params.dtype))
        axis = params.axis if params.axis is not None else 1
        if quantized is not source:
            graph.add_node(
                Op.QUANTIZE_LINEAR,
                [source, scale, zero],
                [quantized],
                {"axis": axis, "saturate": 1, "block_size": 0},
                name=graph.unique_name(f"{name}_QuantizeLinear"),
                before=before,
            )
        out = graph.add_value(f"{name}_dequantized", like.dtype, like.shape, like.layout)
        graph.add_node(
            Op.DEQUANTIZE_LINEAR,
            [quantized, scale, zero],
            [out],
            {"axis": axis, "block_size": 0},
            name=graph.unique_name(f"{name}_DequantizeLinear"),
            before=before,
        )
        return out

    def activation(self, value: Value, before: Node | None) -> Value:
        if value.name not in self.dequantized:
            assert value.quant is not None
            quantized = self.graph.add_value(
                f"{value.name}_quantized", value.quant.dtype, value.shape, value.layout
            )
            self.dequantized[value.name] = self._pair(value, quantized, value.quant, before, value)
        return self.dequantized[value.name]

    def weight(self, value: Value, before: Node, rounded: np.ndarray | None = None) -> Value:
        """An int8 constant (values in [-127, 127]; ``rounded`` when given) and its DequantizeLinear."""
        assert value.quant is not None and value.data is not None
        if rounded is None:
            data = quantize_array(value.data, value.quant, low=-INT8_BOUND)
        else:
            data = np.clip(rounded, -INT8_BOUND, INT8_BOUND).astype(np.int8)
        stored = self.graph.constant(f"{value.name}_int8", data)
        stored.quant = value.quant
        return self._pair(stored, stored, value.quant, before, value)


def quantize_qdq(
    graph: Graph,
    placement: Placement = "tensorrt",
    float_layers: Collection[str] = (),
    biases: Mapping[str, np.ndarray] | None = None,
    rounded: Mapping[str, np.ndarray] | None = None,
) -> Graph:
    """A copy of calibrated ``graph`` with Q/DQ pairs; ``graph`` itself is not changed.

    ``float_layers`` names layers (nodes) that stay in float. ``biases`` maps
    layer names to corrected biases (bias correction), applied to quantized
    layers only. ``rounded`` maps layer names to their int8 weights rounded
    elsewhere (``rounding.gptq_rounding``), used instead of rounding to nearest.
    """
    qdq = clone_graph(graph)
    qdq.name = f"{graph.name}_qdq"
    plan = [
        (node, _activation_inputs(node, placement))
        for node in quantized_layers(qdq, placement)
        if node.name not in float_layers
    ]
    inserter = _Inserter(qdq)
    for node, indices in plan:
        for index in indices:
            value = node.inputs[index]
            assert value is not None
            qdq.set_input(node, index, inserter.activation(value, node))
        weight = node.input(1)
        if node.op in WEIGHTED and weight is not None and weight.is_constant and weight.quant is not None:
            stored = rounded.get(node.name) if rounded else None
            qdq.set_input(node, 1, inserter.weight(weight, node, stored))
    if placement == "all":
        _quantize_outputs(qdq, inserter)
    if biases:
        apply_bias_corrections(qdq, biases, skip=float_layers)
    qdq.prune_unused_constants()
    return qdq


def _quantize_outputs(graph: Graph, inserter: _Inserter) -> None:
    """Graph outputs through their Q/DQ pair, under their own names (integer-only artifacts end in
    integers); the producer's float tensor is renamed ``<name>_float``."""
    for index, value in enumerate(graph.outputs):
        if not _quantizable(value) or value.producer is None:
            continue
        name = value.name
        dequantized = inserter.activation(value, None)
        graph.rename_value(value, graph.unique_name(f"{name}_float"))
        graph.rename_value(dequantized, name)
        graph.outputs[index] = dequantized
