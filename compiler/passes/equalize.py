"""``equalize``: cross-layer equalization of Conv -> (activation) -> Conv pairs.

Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
Correction" (ICCV 2019), what SNPE's ``--algorithms cle`` does (REFERENCE
B3). For a pair whose first Conv's output feeds only the second Conv (any
group count, depthwise included), output channel ``i`` of the first is
divided by ``s_i`` (weights and bias) and input channel ``i`` of the second
is multiplied by it, with ``s_i = sqrt(r1_i * r2_i) / r2_i``, where ``r1_i``
is the largest magnitude of the first's weights for output channel ``i`` and
``r2_i`` that of the second's weights reading channel ``i``: both then
span ``sqrt(r1_i * r2_i)``. Chains (stem -> depthwise -> pointwise) are
iterated until the scales settle (``iterations`` at most).

This preserves the float function when the activation between the two is
positively homogeneous (``f(x / s) = f(x) / s`` for ``s > 0``): none, Relu,
LeakyRelu. ReLU6 (``Clip(0, 6)``) is not: ``Clip(0, 6)(x / s) = Clip(0, 6 s)(x) / s``.
The exact form is ``Clip(0, 6)(x) / s = Min(Clip(0, M)(x / s), 6 / s)`` for
any ``M >= max(6 / s_i)``, so with ``relu6="bound"`` (default) the first
Conv's fused Clip gets ``max = M = max(6 / s_i)`` and is followed by ``Min``
with the per-channel constant ``6 / s_i`` (ONNX Clip only takes scalar
bounds); ``relu6="skip"`` leaves such pairs alone. Clip with a non-zero lower
bound is always left alone. A later run rescales the bounds it inserted.

``equalize_graph(graph, options, activation_ranges)`` is the data-aware form
the quantization engine uses: with the measured per-channel range of the
activation in place of ``r1``. Weights quantized per output channel do not
care about a depthwise Conv's channel scales, so a depthwise second Conv gets
``s_i = a_i / max(a)`` (all activation channels span the same range) and a
dense one ``s_i = sqrt(a_i / r2_i)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edgec.errors import UsageError
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import Op
from edgec.passes.manager import register

RELU6_CHOICES = ("bound", "skip")
_HOMOGENEOUS = frozenset({Op.RELU, Op.LEAKY_RELU})
# Scales within this factor of 1 count as settled.
_SETTLED = 1e-6


@dataclass(frozen=True)
class EqualizeOptions:
    iterations: int = field(
        default=20, metadata={"help": "at most this many sweeps over all pairs (chains need several)"}
    )
    relu6: str = field(
        default="bound",
        metadata={
            "help": "pairs joined by Clip(0, max): 'bound' turns the clip into Relu + Min with a "
            "per-channel bound max/s (exact), 'skip' leaves them alone"
        },
    )

    def __post_init__(self) -> None:
        if self.relu6 not in RELU6_CHOICES:
            raise UsageError(
                f"pass 'equalize': option 'relu6' must be one of {', '.join(RELU6_CHOICES)}, "
                f"not {self.relu6!r}"
            )
        if self.iterations < 1:
            raise UsageError(
                f"pass 'equalize': option 'iterations' must be at least 1, not {self.iterations}"
            )


@dataclass
class _Pair:
    """``first`` feeds ``second`` (through ``bound``, a Min by a per-channel constant, when present)."""

    first: Node
    second: Node
    bound: Node | None
    clip_max: float | None  # the fused Clip's max to turn into a bound (None: nothing to bound)
    scale: np.ndarray  # the product of the scales applied so far


def _sole_user(graph: Graph, value: Value) -> Node | None:
    if len(value.uses) != 1 or value in graph.outputs:
        return None
    node, index = value.uses[0]
    return node if index == 0 else None


def _constant_conv(node: Node | None) -> bool:
    if node is None or node.op is not Op.CONV:
        return False
    weight, bias = node.input(1), node.input(2)
    return (
        weight is not None
        and weight.data is not None
        and np.issubdtype(weight.dtype, np.floating)
        and (bias is None or bias.data is not None)
    )


def _clip_max(node: Node, options: EqualizeOptions) -> float | str | None:
    """The Clip max to bound per channel, None when the activation is homogeneous, 'no' otherwise."""
    activation = node.attrs.get("activation")
    if activation is None or activation in _HOMOGENEOUS:
        return None
    if activation is not Op.CLIP or options.relu6 == "skip":
        return "no"
    bounds = node.attrs.get("activation_attrs", {})
    low, high = float(bounds.get("min", -np.inf)), float(bounds.get("max", np.inf))
    if low != 0.0 or not high > 0.0:
        return "no"
    return None if np.isinf(high) else high


def _bound_constant(node: Node, channels: int) -> bool:
    """``node`` is Min(x, constant of shape [1, C, 1, 1]) as this pass inserts it."""
    bound = node.input(1)
    return (
        node.op is Op.MIN
        and len(node.inputs) == 2
        and bound is not None
        and bound.data is not None
        and (bound.data.shape == (1, channels, 1, 1))
    )


def _covers(node: Node, bound: Node) -> bool:
    """``node``'s activation is Relu or Clip(0, M) with M at or above every per-channel bound."""
    activation = node.attrs.get("activation")
    if activation is Op.RELU:
        return True
    limits = bound.const_input(1)
    attrs = node.attrs.get("activation_attrs", {})
    return (
        activation is Op.CLIP
        and limits is not None
        and float(attrs.get("min", -np.inf)) == 0.0
        and float(attrs.get("max", np.inf)) >= float(limits.max())
    )


def _pair_into(graph: Graph, second: Node, options: EqualizeOptions) -> _Pair | None:
    """The pair whose second Conv is ``second``, or None."""
    value = second.input(0)
    if not _constant_conv(second) or value is None or value.producer is None:
        return None
    producer, bound = value.producer, None
    if producer.op is Op.MIN:
        channels = value.shape[1]
        source = producer.input(0)
        if not _bound_constant(producer, channels) or source is None or source.producer is None:
            return None
        bound, producer, value = producer, source.producer, source
        if not _covers(producer, bound):
            return None
    if not _constant_conv(producer) or _sole_user(graph, value) is not (bound or second):
        return None
    if bound is not None and _sole_user(graph, bound.output) is not second:
        return None
    clip_max = None if bound is not None else _clip_max(producer, options)
    if isinstance(clip_max, str):
        return None
    channels = producer.output.shape[1]
    return _Pair(producer, second, bound, clip_max, np.ones(channels))


def _input_ranges(weight: np.ndarray, groups: int) -> np.ndarray:
    """Largest magnitude of a Conv weight [O, I/g, ...] per input channel (I of them)."""
    out_channels, per_group = weight.shape[:2]
    grouped = np.abs(weight).reshape(groups, out_channels // groups, per_group, -1)
    return grouped.max(axis=(1, 3)).reshape(-1)


def _scale_inputs(weight: np.ndarray, groups: int, scale: np.ndarray) -> np.ndarray:
    out_channels, per_group = weight.shape[:2]
    grouped = weight.reshape(groups, out_channels // groups, per_group, -1)
    return (grouped * scale.reshape(groups, 1, per_group, 1)).reshape(weight.shape)


class _Equalizer:
    """Float64 working copies of the weights and biases of the convs in the pairs."""

    def __init__(self, pairs: list[_Pair], activation_ranges: Mapping[str, np.ndarray]) -> None:
        self.activation_ranges = activation_ranges
        self.weights: dict[str, np.ndarray] = {}
        self.biases: dict[str, np.ndarray | None] = {}
        for pair in pairs:
            for node in (pair.first, pair.second):
                weight, bias = node.const_input(1), node.const_input(2)
                assert weight is not None
                self.weights[node.name] = weight.astype(np.float64)
                self.biases[node.name] = None if bias is None else bias.astype(np.float64).reshape(-1)

    def step(self, pair: _Pair) -> float:
        """Equalize ``pair`` once; returns the largest |log s_i|."""
        first, second = self.weights[pair.first.name], self.weights[pair.second.name]
        groups = int(pair.second.attrs.get("group", 1))
        measured = self.activation_ranges.get(pair.second.name)
        if measured is not None:
            r1 = np.asarray(measured, np.float64) / pair.scale
        else:
            r1 = np.abs(first).reshape(first.shape[0], -1).max(axis=1)
        r2 = _input_ranges(second, groups)
        usable = (r1 > 0) & (r2 > 0)
        if measured is not None and groups == len(r1):
            # Depthwise under per-channel weights: only the activation's ranges matter; make them equal.
            scale = np.where(usable, r1 / r1.max(initial=0.0), 1.0)
        else:
            scale = np.sqrt(np.divide(r1, r2, out=np.ones_like(r1), where=usable))
        shape = (-1,) + (1,) * (first.ndim - 1)
        self.weights[pair.first.name] = first / scale.reshape(shape)
        bias = self.biases[pair.first.name]
        if bias is not None:
            self.biases[pair.first.name] = bias / scale
        self.weights[pair.second.name] = _scale_inputs(second, groups, scale)
        pair.scale = pair.scale * scale
        return float(np.abs(np.log(scale)).max(initial=0.0))


def _write_back(graph: Graph, node: Node, weight: np.ndarray, bias: np.ndarray | None) -> None:
    old_weight = node.input(1)
    assert old_weight is not None
    graph.set_input(node, 1, graph.constant(f"{node.name}_weight_equalized", weight.astype(old_weight.dtype)))
    if bias is not None:
        old_bias = node.input(2)
        assert old_bias is not None
        graph.set_input(node, 2, graph.constant(f"{node.name}_bias_equalized", bias.astype(old_bias.dtype)))


def _bound(graph: Graph, pair: _Pair) -> None:
    """Keep the clip exact: Clip(0, the largest bound), then Min by ``max / s`` per channel
    (or the old bound / s). The fused Clip keeps the Conv's own output range that of the Min's."""
    channels = len(pair.scale)
    if pair.bound is not None:
        old = pair.bound.input(1)
        assert old is not None and old.data is not None
        limits = old.data.astype(np.float64).reshape(-1) / pair.scale
        dtype = old.dtype
    else:
        assert pair.clip_max is not None
        limits, dtype = pair.clip_max / pair.scale, pair.first.output.dtype
    limits = limits.reshape(1, channels, 1, 1).astype(dtype)
    constant = graph.constant(f"{pair.first.name}_bound", limits)
    pair.first.attrs["activation"] = Op.CLIP
    pair.first.attrs["activation_attrs"] = {"min": 0.0, "max": float(limits.max())}
    if pair.bound is not None:
        graph.set_input(pair.bound, 1, constant)
        return
    value = pair.first.output
    name = graph.unique_name(f"{value.name}_bound")
    node = graph.make_node(Op.MIN, [value, constant], like=value, name=name, before=pair.second)
    graph.set_input(pair.second, 0, node.output)


@register("equalize", EqualizeOptions)
def equalize(graph: Graph, options: EqualizeOptions) -> int:
    """Cross-layer equalization of Conv -> (Relu/ReLU6/none) -> Conv pairs, depthwise included."""
    return equalize_graph(graph, options)


def equalize_graph(
    graph: Graph, options: EqualizeOptions, activation_ranges: Mapping[str, np.ndarray] | None = None
) -> int:
    """The pass, optionally data-aware: ``activation_ranges`` maps a second Conv's name to the
    largest magnitude per channel of its input, measured on data; those pairs balance that
    activation range against the second Conv's weights (``r1_i`` = the activation's range),
    which is what matters when weights are quantized per channel and activations per tensor.
    """
    pairs = [pair for node in graph.nodes_of(Op.CONV) if (pair := _pair_into(graph, node, options))]
    if not pairs:
        return 0
    equalizer = _Equalizer(pairs, activation_ranges or {})
    for _ in range(options.iterations):
        if max(equalizer.step(pair) for pair in pairs) < _SETTLED:
            break
    scaled = [pair for pair in pairs if np.any(pair.scale != 1.0)]
    if not scaled:
        return 0
    touched = {node.name: node for pair in scaled for node in (pair.first, pair.second)}
    for name, node in touched.items():
        _write_back(graph, node, equalizer.weights[name], equalizer.biases[name])
    for pair in scaled:
        if pair.bound is not None or pair.clip_max is not None:
            _bound(graph, pair)
    graph.prune_unused_constants()
    return sum(int(np.abs(np.log(pair.scale)).max() >= _SETTLED) for pair in scaled)
