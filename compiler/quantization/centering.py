"""Centring one-sided activations for symmetric int8: same function, up to half the step.

Symmetric activations (zero point 0, TensorRT's only form) spend half of
int8's 256 steps on negative values a ReLU6 output never takes: its step is
``hi / 127``. Shifting the output by ``c = hi / 2`` makes the range
``[-c, c]`` and the step ``c / 127``, half as large, which is what an
asymmetric scheme gets with a zero point. The float function is unchanged:

- the producer (a Conv or Gemm with a fused ``Clip(0, hi)``) subtracts ``c``
  from its bias and clips to ``[-c, hi - c]``;
- every consumer adds it back through its bias: a Conv adds ``c`` times the
  sum of each output channel's weights, a Gemm ``c`` times the sum of each
  output's weights; a Conv's zero padding stood for 0 and must now stand for
  ``-c``, so a padded Conv reads its input through a ``Pad`` with value ``-c``;
- GlobalAveragePool, Flatten and Reshape between the two pass the shift on.

A producer whose output reaches anything else (an Add, a graph output, a
Conv with ``auto_pad``) is left alone. This runs before calibration, so the
ranges are measured on the centred tensors; ``grids.py`` has the measured gain.

Other one-sided tensors have no bound to move: HardSwish outputs lie in
``[-0.375, hi]``, ReLU and squeeze-excite ``x * sigmoid`` outputs in
``[0, hi]`` or near it. ``centre_measured_activations`` measures every Conv
or Gemm input whose uses could absorb a shift on the calibration data, takes
the range ``[lo, hi]`` the calibration method would give it asymmetrically
(the min/max midpoint would undo a percentile's clipping of the long upper
tail), and where centring it would shrink the symmetric step by at least
``MIN_STEP_GAIN``, an ``Add(x, -c)`` with ``c = (lo + hi) / 2`` follows the
producer (TensorRT fuses it into the producer's kernel) and the consumers
take ``c`` back as above. After calibration the read tensors' scales are
snapped so that the old zero lands on the grid (``Shift.snap``). Clip
outputs are left to the rewrite above (``clip_bounded``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgec.data.datasets import Dataset
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.rewrite import route_through, unfuse_padding
from edgec.quantization.bias import constant_response, current_bias, set_bias
from edgec.quantization.collect import collect_statistics
from edgec.quantization.ranges import asymmetric_range

# Ops that carry a constant shift of their (first) input to their output.
_PASS_SHIFT = frozenset({Op.GLOBAL_AVERAGE_POOL, Op.FLATTEN, Op.RESHAPE})

# A measured tensor is centred when the symmetric step shrinks at least by this factor (the
# shift costs an Add, fused into the producer on TensorRT): a quarter of the grid or more unused.
MIN_STEP_GAIN = 4.0 / 3.0


def _clip_bound(node: Node) -> float | None:
    """``hi`` of a fused ``Clip(0, hi)`` with a finite ``hi > 0``, else None."""
    if node.attrs.get("activation") is not Op.CLIP:
        return None
    bounds = node.attrs.get("activation_attrs", {})
    low, high = bounds.get("min"), bounds.get("max")
    if low != 0.0 or high is None or not np.isfinite(high) or high <= 0.0:
        return None
    return float(high)


# Ops whose output holds their first input's values (and padding).
_CARRY = frozenset({Op.PAD, *_PASS_SHIFT})


def clip_bounded(value: Value) -> bool:
    """Whether ``value`` is a Clip's output (an op or a fused activation), or carries one through
    Pad, GlobalAveragePool, Flatten or Reshape. Such tensors are centred by their bound where
    their uses allow (``centre_clipped_activations``) and left as they were elsewhere: every
    channel shares the bound, and in EfficientNet-Lite0 (ReLU6) measuring them instead lost
    accuracy on held-out images (jetson-agx-orin int8, bench/zoo.py cell: cosine 0.9810 -> 0.976
    centred by measurement, 0.956 with their channels scaled, 0.948 with both)."""
    producer = value.producer
    while producer is not None and producer.op in _CARRY and producer.inputs[0] is not None:
        producer = producer.inputs[0].producer
    if producer is None:
        return False
    return producer.op is Op.CLIP or producer.attrs.get("activation") is Op.CLIP


def constant_parameters(node: Node) -> bool:
    """A constant weight, and a constant bias or none: what a shift can be folded into."""
    bias = node.input(2)
    return node.const_input(1) is not None and (bias is None or bias.is_constant)


def _absorbs(node: Node, index: int) -> bool:
    """Whether ``node`` can take a constant shift of input ``index`` into its bias."""
    if index != 0 or not constant_parameters(node):
        return False
    if node.op is Op.CONV:
        return node.attrs.get("auto_pad", "NOTSET") == "NOTSET"
    if node.op is Op.GEMM:
        return not node.attrs.get("transA", 0) and node.attrs.get("beta", 1.0) != 0.0
    return False


def _absorbers(graph: Graph, value: Value) -> list[Node] | None:
    """The Conv/Gemm nodes that would absorb a shift of ``value``, or None if some use cannot."""
    found: list[Node] = []
    frontier = [value]
    while frontier:
        current = frontier.pop()
        if current in graph.outputs:
            return None
        for node, index in current.uses:
            if _absorbs(node, index):
                found.append(node)
            elif node.op in _PASS_SHIFT and index == 0:
                frontier.append(node.output)
            else:
                return None
    return found


def _input_channels(node: Node) -> int:
    source = node.inputs[0]
    assert source is not None and source.shape is not None
    return source.shape[1] if node.op is Op.CONV else source.shape[-1]


@dataclass(frozen=True)
class Shift:
    """A centred tensor: ``value`` lowered by ``amount``; ``read_as``: the tensors its consumers
    quantize (it, a Pad of it, or what GlobalAveragePool/Flatten/Reshape pass on)."""

    value: str
    amount: float
    read_as: tuple[str, ...]

    def snap(self, graph: Graph) -> None:
        """Put the old zero, now ``-amount``, on each read tensor's int8 grid (the calibrated
        scale, never shrunk; grown by under 1 % where ``amount`` is over 100 steps): a ReLU's
        or HardSwish's exact zeros, often most of the tensor, would otherwise all round the
        same way and shift every consumer's output by the same error."""
        amount = abs(self.amount)
        for name in self.read_as:
            value = graph.values[name]
            params = value.quant
            if not amount or params is None or np.size(params.scale) != 1 or np.any(params.zero_point != 0):
                continue
            steps = np.floor(amount / float(params.scale))
            if steps >= 1.0:
                value.quant = replace(
                    params, scale=np.asarray(amount / steps, np.asarray(params.scale).dtype)
                )


def _take_back(graph: Graph, consumers: list[Node], value: Value, shift: float, snap: bool) -> Shift:
    """Each consumer adds ``shift`` (the amount its input was lowered by) back through its bias."""
    for node in consumers:
        weight = node.const_input(1)
        assert weight is not None
        taken_back = constant_response(node, weight.astype(np.float64), np.full(_input_channels(node), shift))
        bias = current_bias(node, len(taken_back))
        assert bias is not None
        set_bias(graph, node, bias + taken_back, "centred_bias")
        if node.op is Op.CONV:
            unfuse_padding(graph, node, -shift)
    read_as = tuple(dict.fromkeys(node.inputs[0].name for node in consumers if node.inputs[0] is not None))
    return Shift(value.name, shift, read_as if snap else ())


def _centre(graph: Graph, producer: Node, high: float, consumers: list[Node]) -> Shift:
    shift = high / 2.0
    channels = producer.output.shape[1] if producer.op is Op.CONV else producer.output.shape[-1]
    bias = current_bias(producer, channels)
    assert bias is not None
    set_bias(graph, producer, bias - shift, "centred_bias")
    producer.attrs["activation_attrs"] = {"min": -shift, "max": high - shift}
    # No snapping: the calibrated amax of [-hi/2, hi/2] is about hi/2, so -hi/2 is on the grid or
    # just past its end; grids.py's figures were measured so.
    return _take_back(graph, consumers, producer.output, shift, snap=False)


def centre_clipped_activations(graph: Graph) -> list[Shift]:
    """Centre every ``Clip(0, hi)`` output whose uses allow it; returns the shifts."""
    centred = []
    for producer in graph.nodes_of(Op.CONV, Op.GEMM):
        high = _clip_bound(producer)
        if high is None or not constant_parameters(producer):
            continue
        consumers = _absorbers(graph, producer.output)
        if consumers:
            centred.append(_centre(graph, producer, high, consumers))
    graph.prune_unused_constants()
    return centred


def _shift_candidates(graph: Graph) -> dict[str, list[Node]]:
    """Computed Conv/Gemm inputs whose every use can absorb a shift, with their absorbers.

    A tensor that only passes on the shift of one already listed (GlobalAveragePool of it) is
    left out: its source's centring moves it too."""
    candidates: dict[str, list[Node]] = {}
    for node in graph.nodes_of(Op.CONV, Op.GEMM):
        value = node.inputs[0]
        if value is None or value.producer is None or value.name in candidates or clip_bounded(value):
            continue
        source = value.producer.inputs[0] if value.producer.op in _PASS_SHIFT else None
        if source is not None and source.name in candidates:
            continue
        consumers = _absorbers(graph, value)
        if consumers:
            candidates[value.name] = consumers
    return candidates


def step_gain(low: float, high: float) -> float:
    """How many times smaller the symmetric step of ``[low, high]`` gets once it is centred."""
    width = high - low
    return 2.0 * max(abs(low), abs(high)) / width if width > 0.0 else 1.0


def _insert_shift(graph: Graph, value: Value, shift: float) -> None:
    """Route every use of ``value`` through ``Add(value, -shift)``."""
    offset = graph.constant(f"{value.name}_centring", np.asarray(-shift, value.dtype))
    route_through(graph, value, Op.ADD, offset, f"{value.name}_centred")


def centre_measured_activations(graph: Graph, data: Dataset, method: str, percentile: float) -> list[Shift]:
    """Centre the one-sided Conv/Gemm inputs ``data`` shows, judged by their ranges under the
    calibration ``method``; returns the shifts (``GridFit.fix`` snaps them after calibration)."""
    candidates = _shift_candidates(graph)
    if not candidates:
        return []
    histograms = method != "minmax"
    stats = collect_statistics(graph, data, histograms=histograms, only=set(candidates)).tensors
    centred = []
    for name, consumers in candidates.items():
        low, high = asymmetric_range(stats[name], method, percentile)
        if step_gain(low, high) < MIN_STEP_GAIN:
            continue
        shift = (low + high) / 2.0
        _insert_shift(graph, graph.values[name], shift)
        centred.append(_take_back(graph, consumers, graph.values[name], shift, snap=True))
    graph.toposort()
    return centred
