"""A host-side estimate of SNPE's quantized accuracy: its uint8 rules, run with ONNX Runtime.

REFERENCE B3 (SNPE's TF-style asymmetric scheme): a tensor's encoding maps
``min`` to 0 and ``max`` to 2^bits - 1; the range always contains 0, is at
least 0.01 wide (``max = max(max, min + 0.01)``), and ``min``/``max`` are
shifted so that 0.0 is exactly representable; ``q = round((2^bits - 1) *
(x - min) / (max - min))`` clamped to the grid. Activations take min/max over
the calibration samples (snpe-dlc-quantize's default ``tf`` quantizer).
Conv/ConvTranspose/FullyConnected weights are per-channel symmetric
(``--use_per_channel_quantization``: offset -2^(bits-1)); biases are 32-bit
(``--bias_bitwidth 32``), close enough to float to be kept float here.

8-bit activations: the quantization engine expresses B3 (``SNPE_SCHEME``:
asymmetric uint8, ranges at least 0.01 wide, 0.0 exact; per-channel
symmetric weights), so ``simulate`` calibrates with it (method ``minmax``)
and runs its Q/DQ model; ``edgec build`` runs the engine with the user's
method and the backend runs that result's Q/DQ model (``qdq_runner``). The
engine keeps static tensors other than weights (Add/Mul constants) float.
16-bit activations (``int16x8``), which the engine's schemes do not
express, use this module's own simulation: ranges from ``activation_ranges``,
a Q/DQ pair on every IR tensor, weights replaced by their quantized values
(other static tensors per-tensor asymmetric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgec.backends.snpe.encodings import SNPE_SCHEME
from edgec.plugin import (
    CalibrationConfig,
    Dataset,
    Graph,
    Node,
    Op,
    Runner,
    calibrate,
    clone_graph,
    quantize_qdq,
    run,
    session,
    to_onnx,
)

MIN_RANGE = 0.01
_PER_CHANNEL_AXIS = {Op.CONV: 0, Op.GEMM: 0, Op.CONV_TRANSPOSE: 1}
_PER_TENSOR_DATA = frozenset({Op.MATMUL, Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAX, Op.MIN, Op.PRELU})


@dataclass(frozen=True)
class Encoding:
    """An SNPE encoding: ``real = (q - offset) * scale`` for q in 0..2^bits-1."""

    min: float
    max: float
    scale: float
    offset: int
    bits: int

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1


def encoding(lo: float, hi: float, bits: int = 8) -> Encoding:
    """B3's encoding of the observed range [lo, hi]."""
    levels = (1 << bits) - 1
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    hi = max(hi, lo + MIN_RANGE)
    scale = (hi - lo) / levels
    offset = int(np.clip(np.round(-lo / scale), 0, levels))
    return Encoding(-offset * scale, (levels - offset) * scale, scale, offset, bits)


def quantize(x: np.ndarray, enc: Encoding) -> np.ndarray:
    """B3's ``q = round(levels * (x - min) / (max - min))``, clamped to the grid."""
    q = np.round(enc.levels * (np.asarray(x, np.float64) - enc.min) / (enc.max - enc.min))
    return np.clip(q, 0, enc.levels).astype(np.int64)


def dequantize(q: np.ndarray, enc: Encoding) -> np.ndarray:
    return ((q - enc.offset) * enc.scale).astype(np.float32)


def per_channel_symmetric(w: np.ndarray, axis: int, bits: int = 8) -> np.ndarray:
    """Weights quantized per output channel, symmetric (offset -2^(bits-1)), as floats again."""
    half = 1 << (bits - 1)
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.max(np.abs(w), axis=reduce, keepdims=True)
    scale = np.where(absmax > 0, absmax / (half - 1), 1.0)
    return (np.clip(np.round(w / scale), -half, half - 1) * scale).astype(w.dtype)


def per_tensor(w: np.ndarray, bits: int = 8) -> np.ndarray:
    enc = encoding(float(w.min()), float(w.max()), bits)
    return dequantize(quantize(w, enc), enc).astype(w.dtype)


def activation_names(graph: Graph) -> list[str]:
    """The float tensors SNPE keeps quantized: the inputs and every node output."""
    values = [*graph.inputs, *(v for node in graph.nodes for v in node.outputs)]
    return [v.name for v in values if np.issubdtype(v.dtype, np.floating)]


def activation_ranges(
    graph: Graph, samples: Sequence[Mapping[str, np.ndarray]]
) -> dict[str, tuple[float, float]]:
    """min/max of every activation over the calibration samples (the ``tf`` quantizer)."""
    names = activation_names(graph)
    sess = session(to_onnx(graph, extra_outputs=names))
    ranges: dict[str, tuple[float, float]] = {}
    for feeds in samples:
        outputs = run(sess, feeds)
        for name in names:
            lo, hi = float(outputs[name].min()), float(outputs[name].max())
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges


def _weight_roles(graph: Graph) -> dict[str, tuple[Node, int]]:
    """Float constant name -> (first consumer, input index) for the constants SNPE quantizes."""
    roles: dict[str, tuple[Node, int]] = {}
    for node in graph.nodes:
        for index, value in enumerate(node.inputs):
            if value is None or not value.is_constant or not np.issubdtype(value.dtype, np.floating):
                continue
            weight = node.op in _PER_CHANNEL_AXIS and index == 1
            if weight or node.op in _PER_TENSOR_DATA:
                roles.setdefault(value.name, (node, index))
    return roles


def _quantized_weight(node: Node, data: np.ndarray, bits: int) -> np.ndarray:
    if node.op in _PER_CHANNEL_AXIS and data.ndim >= 2:
        return per_channel_symmetric(data, _PER_CHANNEL_AXIS[node.op], bits)
    return per_tensor(data, bits)


def _qdq(name: str, src: str, dst: str, enc: Encoding) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    dtype = np.uint8 if enc.bits == 8 else np.uint16
    scale = numpy_helper.from_array(np.asarray(enc.scale, np.float32), f"{name}/scale")
    zero = numpy_helper.from_array(np.asarray(enc.offset, dtype), f"{name}/zero_point")
    quant = helper.make_node(
        "QuantizeLinear", [src, scale.name, zero.name], [f"{name}/q"], name=f"{name}/quantize"
    )
    dequant = helper.make_node(
        "DequantizeLinear", [f"{name}/q", scale.name, zero.name], [dst], name=f"{name}/dequantize"
    )
    return [quant, dequant], [scale, zero]


def simulated_model(
    graph: Graph, ranges: Mapping[str, tuple[float, float]], weight_bits: int, act_bits: int
) -> onnx.ModelProto:
    """The graph as ONNX with SNPE's quantization applied to weights and activations."""
    model = to_onnx(graph, value_info=False)
    onnx_graph = model.graph
    roles = _weight_roles(graph)
    for init in onnx_graph.initializer:
        if init.name in roles:
            node, _ = roles[init.name]
            data = _quantized_weight(node, numpy_helper.to_array(init), weight_bits)
            init.CopyFrom(numpy_helper.from_array(data, init.name))
    encodings = {name: encoding(*ranges[name], bits=act_bits) for name in ranges}
    nodes: list[onnx.NodeProto] = []
    inputs = {v.name for v in graph.inputs}
    for name in inputs & encodings.keys():
        added, inits = _qdq(f"{name}/edgec_sim", name, f"{name}/edgec_sim", encodings[name])
        nodes += added
        onnx_graph.initializer.extend(inits)
    for node in onnx_graph.node:
        node.input[:] = [f"{n}/edgec_sim" if n in inputs and n in encodings else n for n in node.input]
        tail = []
        for index, out in enumerate(node.output):
            if out in encodings:
                node.output[index] = f"{out}/edgec_float"
                added, inits = _qdq(f"{out}/edgec_sim", node.output[index], out, encodings[out])
                tail += added
                onnx_graph.initializer.extend(inits)
        nodes += [node, *tail]
    onnx_graph.ClearField("node")
    onnx_graph.node.extend(nodes)
    return model


def engine_qdq(graph: Graph, calibration: Sequence[Mapping[str, np.ndarray]]) -> Graph:
    """The engine's Q/DQ model with SNPE's scheme and ``tf`` (minmax) ranges; ``graph`` is unchanged."""
    twin = clone_graph(graph)
    names = [v.name for v in graph.inputs]
    dataset = Dataset({n: np.stack([s[n] for s in calibration]) for n in names}, "calibration samples")
    calibrate(twin, dataset, CalibrationConfig(method="minmax", bias_correction=False), SNPE_SCHEME)
    return quantize_qdq(twin, SNPE_SCHEME.placement)


def simulate(
    graph: Graph, calibration: Sequence[Mapping[str, np.ndarray]], weight_bits: int, act_bits: int
) -> Runner:
    """A runner for the quantized model SNPE would build from these calibration samples."""
    if (weight_bits, act_bits) == (8, 8):
        return qdq_runner(engine_qdq(graph, calibration))
    return _unoptimized(simulated_model(graph, activation_ranges(graph, calibration), weight_bits, act_bits))


def qdq_runner(qdq: Graph) -> Runner:
    """A runner for a Q/DQ graph (the engine's simulation) under SNPE's rounding, see ``_unoptimized``."""
    return _unoptimized(to_onnx(qdq, value_info=False))


def _unoptimized(model: onnx.ModelProto) -> Runner:
    # Without graph optimizations: ONNX Runtime's rewrites around Q/DQ pairs (fusing them into its own
    # integer kernels, dropping a Clip before a QuantizeLinear) move the result away from SNPE's rules
    # (on EfficientNet-Lite0 even 16-bit activations lost 7% logit cosine with them on).
    sess = session(model, optimize=False)
    return lambda feeds: run(sess, feeds)
