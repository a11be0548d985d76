"""``prune-channels``: structured pruning, whole output channels of Conv/Gemm/MatMul removed.

Channels are tracked through the graph as *channel spaces*: each Conv
(group 1), Gemm or MatMul with a constant weight opens one for its output
channels. A space flows unchanged through ops that act per channel
(activations, BatchNormalization, pooling, depthwise convolutions, per-channel
constants, [N, C, 1, 1] -> [N, C] reshapes). Elementwise ops join the spaces
of their full-size operands into one group (residual adds: every member of
an add group loses the same channels), Concat on the channel axis lays its
inputs' spaces side by side at their offsets. A space that reaches anything
else (a graph output, Softmax, a Transpose, ...) is frozen: it keeps all its
channels. Every unfrozen group keeps its ``1 - ratio`` most important
channels (residual groups only with ``residual``: in inverted-residual
networks such as EfficientNet-Lite the linear bottleneck is far more
sensitive than the expanded channels), by the summed, per-layer normalized L1 (or L2) norms of its
producers' weight rows, and every node on the way is rewritten: producers
lose weight rows and biases, depthwise convs and BatchNorms their
per-channel parameters, consumers the weight columns of the removed
channels. With ``reconstruct`` the consumers are refitted on calibration
data to reproduce their original outputs from the channels that remain
(ridge least squares, the damping and whether to refit at all chosen per
layer on held-out calibration samples: edgec.compression.reconstruction).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from edgec.compression.channel_selection import (
    GroupChoice,
    GroupConsumer,
    allocate,
    choose_group,
    removal_costs,
)
from edgec.compression.pass_inputs import CalibrationOptions, calibration_feeds
from edgec.compression.reconstruction import DEFAULT_SETTINGS, reconstruct
from edgec.compression.sequential import split
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Layout, Node, Value
from edgec.ir.ops import ACTIVATIONS, ELEMENTWISE_BINARY, Op
from edgec.ir.weight_matrices import (
    groups,
    is_weighted_layer,
    replace_constant,
    set_bias_vector,
    set_weight_matrix,
    weight_matrix,
    weighted_layers,
)
from edgec.passes.manager import register
from edgec.runtime import Feeds

# Ops whose output channel c depends only on input channel c (input 0).
PER_CHANNEL = ACTIVATIONS | {
    Op.BATCH_NORMALIZATION,
    Op.MAX_POOL,
    Op.AVERAGE_POOL,
    Op.GLOBAL_AVERAGE_POOL,
    Op.GLOBAL_MAX_POOL,
    Op.IDENTITY,
    Op.NEG,
    Op.ABS,
    Op.SQRT,
    Op.EXP,
    Op.LOG,
    Op.RECIPROCAL,
    Op.ERF,
}

CRITERIA = ("l1", "l2", "obs")
Segment = tuple[int | None, int]  # (channel space or None for fixed channels, channel count)


@dataclass(frozen=True)
class PruneChannelsOptions(CalibrationOptions):
    ratio: float = field(default=0.3, metadata={"help": "fraction of the channels of each group removed"})
    criterion: str = field(
        default="l1",
        metadata={
            "help": "channel choice: l1 | l2 norm of the producers' weight rows, or obs: the consumers' "
            "output error on calibration data (structured OBS in layer order, with the refit)"
        },
    )
    multiple: int = field(
        default=8,
        metadata={
            "help": "round the channels kept up to a multiple of this (CPU kernels block channels by 8)"
        },
    )
    residual: bool = field(
        default=False,
        metadata={"help": "also prune residual streams (Add/Sub groups); they are the most sensitive"},
    )
    reconstruct: bool = field(default=False, metadata={"help": "refit the consumers on calibration data"})
    allocation: str = field(
        default="uniform",
        metadata={
            "help": "with criterion obs: uniform (each group loses the ratio) or global (one ranking of the "
            "consumers' relative output errors decides how many each group loses, the ratio overall)"
        },
    )


class ChannelSpaces:
    """Union-find over channel spaces, with the producers of each and the frozen ones."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.producers: dict[int, list[Node]] = {}
        self.frozen: set[int] = set()
        self.residual: set[int] = set()  # spaces joined by a residual Add/Sub
        self.segments: dict[str, list[Segment]] = {}

    def new(self, producer: Node) -> int:
        self.parent.append(len(self.parent))
        self.producers[len(self.parent) - 1] = [producer]
        return len(self.parent) - 1

    def find(self, space: int) -> int:
        while self.parent[space] != space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.producers[ra] += self.producers.pop(rb)

    def freeze(self, value: Value) -> None:
        self.frozen.update(s for s, _ in self.segments.get(value.name, []) if s is not None)

    def is_frozen(self, space: int) -> bool:
        return self.find(space) in {self.find(s) for s in self.frozen}


def _channels_axis_ok(value: Value) -> bool:
    return value.shape is not None and len(value.shape) >= 2 and value.layout is not Layout.NHWC


def _is_depthwise(node: Node) -> bool:
    weight = node.const_input(1)
    if node.op is not Op.CONV or weight is None:
        return False
    return int(node.attrs["group"]) == weight.shape[0] and weight.shape[1] == 1


def _is_squeeze_reshape(node: Node) -> bool:
    """[N, C, 1, ...] -> [N, C]: channels stay on axis 1."""
    x, out = node.inputs[0].shape, node.output.shape
    return node.op in (Op.RESHAPE, Op.FLATTEN) and all(d == 1 for d in x[2:]) and out == x[:2]


def _elementwise(spaces: ChannelSpaces, node: Node) -> None:
    out = node.output
    channels = out.shape[1]
    full = [v for v in node.inputs if v is not None and not v.is_constant and _aligned(v, out) == channels]
    tracked = [v for v in full if v.name in spaces.segments]
    if len(tracked) != len(full) or not tracked:
        for value in tracked:
            spaces.freeze(value)
        return
    first = spaces.segments[tracked[0].name]
    for other in tracked[1:]:
        segs = spaces.segments[other.name]
        if [n for _, n in segs] != [n for _, n in first] or any(s is None for s, _ in segs + first):
            spaces.freeze(other)
            spaces.freeze(tracked[0])
            continue
        for (a, _), (b, _) in zip(first, segs, strict=True):
            spaces.union(a, b)
            if node.op in (Op.ADD, Op.SUB):
                spaces.residual.add(a)
    spaces.segments[out.name] = first


def _aligned(value: Value, out: Value) -> int:
    """The dimension of ``value`` that broadcasts onto the channel axis of ``out`` (1 if absent)."""
    offset = len(out.shape) - len(value.shape)
    return value.shape[1 - offset] if 1 - offset >= 0 else 1


def _concat(spaces: ChannelSpaces, node: Node) -> None:
    segments: list[Segment] = []
    for value in node.inputs:
        segments += spaces.segments.get(value.name, [(None, value.shape[1])])
    spaces.segments[node.output.name] = segments


def _follow(spaces: ChannelSpaces, node: Node) -> bool:
    """Record the channel spaces of the node's output; False if the node cannot carry channels."""
    x = node.inputs[0] if node.inputs else None
    tracked = x is not None and x.name in spaces.segments
    if not all(_channels_axis_ok(v) for v in node.outputs):
        return False
    if _is_depthwise(node) or node.op in PER_CHANNEL or (tracked and _is_squeeze_reshape(node)):
        if tracked:
            spaces.segments[node.output.name] = spaces.segments[x.name]
    elif node.op is Op.CONCAT and int(node.attrs["axis"]) % node.output.rank == 1:
        _concat(spaces, node)
    elif node.op in ELEMENTWISE_BINARY and node.op is not Op.EQUAL:
        _elementwise(spaces, node)
    elif is_weighted_layer(node) and (node.op is not Op.CONV or int(node.attrs["group"]) == 1):
        spaces.segments[node.output.name] = [(spaces.new(node), node.output.shape[1])]
    else:
        return False
    return True


def analyze(graph: Graph) -> ChannelSpaces:
    """Channel spaces of every activation whose channels can be followed; the rest frozen."""
    spaces = ChannelSpaces()
    for node in graph.nodes:
        if not _follow(spaces, node):
            for value in node.inputs:
                if value is not None:
                    spaces.freeze(value)
    for value in graph.outputs:
        spaces.freeze(value)
    return spaces


def _importance(producers: list[Node], criterion: str) -> np.ndarray:
    total = 0.0
    for node in producers:
        rows = weight_matrix(node)
        norms = np.abs(rows).sum(axis=1) if criterion == "l1" else np.sqrt((rows * rows).sum(axis=1))
        total = total + norms / max(float(norms.mean()), 1e-12)
    return np.asarray(total)


def prunable(spaces: ChannelSpaces, options: PruneChannelsOptions) -> list[int]:
    """The root spaces of the unfrozen groups (residual ones only with ``residual``)."""
    residual = {spaces.find(s) for s in spaces.residual}
    return [
        root
        for root in spaces.producers
        if not spaces.is_frozen(root) and (root not in residual or options.residual)
    ]


def uniform_keep(channels: int, ratio: float, multiple: int) -> int:
    """The channels a group keeps: ``1 - ratio`` of them, rounded up to a multiple of ``multiple``."""
    keep = int(np.ceil(channels * (1 - ratio) / multiple) * multiple)
    return min(max(keep, 1), channels)


def choose_channels(
    spaces: ChannelSpaces, options: PruneChannelsOptions, keeps: dict[int, int] | None = None
) -> dict[int, np.ndarray]:
    """Root space -> sorted indices of the channels kept by weight norm, for every unfrozen group that
    shrinks (to ``keeps[root]`` channels if given, else uniformly)."""
    kept = {}
    criterion = "l1" if options.criterion == "obs" else options.criterion
    for root in prunable(spaces, options):
        importance = _importance(spaces.producers[root], criterion)
        channels = importance.size
        keep = uniform_keep(channels, options.ratio, options.multiple)
        keep = keeps.get(root, channels) if keeps is not None else keep
        if keep < channels:
            kept[root] = np.sort(np.argsort(-importance, kind="stable")[:keep])
    return kept


def _keep_of(spaces: ChannelSpaces, kept: dict[int, np.ndarray], value: Value) -> np.ndarray | None:
    segments = spaces.segments.get(value.name)
    return None if segments is None else _indices(spaces, kept, segments, value.shape[1])


def _indices(
    spaces: ChannelSpaces, kept: dict[int, np.ndarray], segments: list[Segment], size: int
) -> np.ndarray | None:
    """The channels of a value laid out as ``segments`` that ``kept`` keeps; None if all of its ``size``."""
    parts, offset = [], 0
    for space, count in segments:
        root = spaces.find(space) if space is not None else None
        parts.append(
            kept.get(root, np.arange(count)) + offset if root is not None else np.arange(count) + offset
        )
        offset += count
    indices = np.concatenate(parts)
    return None if indices.size == size else indices


def _take(data: np.ndarray, axis: int, keep: np.ndarray | None) -> np.ndarray:
    return data if keep is None else np.take(data, keep, axis=axis)


def _rewrite_layer(graph: Graph, node: Node, keep_in: np.ndarray | None, keep_out: np.ndarray | None) -> None:
    weight = node.const_input(1)
    if node.op is Op.CONV:
        new = _take(weight, 0, keep_out)
        if _is_depthwise(node):
            node.attrs["group"] = int(new.shape[0])
        else:
            new = _take(new, 1, keep_in)
    elif node.op is Op.GEMM and node.attrs["transB"]:
        new = _take(_take(weight, 0, keep_out), 1, keep_in)
    else:
        new = _take(_take(weight, 1, keep_out), 0, keep_in)
    replace_constant(graph, node, 1, np.ascontiguousarray(new))
    bias = node.const_input(2) if node.op is not Op.MATMUL else None
    if bias is not None and keep_out is not None and bias.size > 1:
        axis = bias.ndim - 1
        replace_constant(graph, node, 2, np.ascontiguousarray(_take(bias, axis, keep_out)))


def _rewrite_constants(graph: Graph, node: Node, keep: np.ndarray) -> None:
    """Per-channel constant operands of elementwise ops and BatchNorm parameters lose the removed channels."""
    out = node.output
    for index, value in enumerate(node.inputs):
        if value is None or value.data is None or value.data.ndim == 0:
            continue
        if node.op is Op.BATCH_NORMALIZATION:
            replace_constant(graph, node, index, value.data[keep])
        elif _aligned(value, out) == out.shape[1] > 1:
            axis = 1 - (len(out.shape) - value.data.ndim)
            replace_constant(graph, node, index, np.ascontiguousarray(np.take(value.data, keep, axis=axis)))


def rewrite(graph: Graph, spaces: ChannelSpaces, kept: dict[int, np.ndarray]) -> dict[str, np.ndarray | None]:
    """Apply the kept channels to every node; returns the layers whose inputs lost channels, with the
    output channels they kept (None: all)."""
    keeps = {name: _keep_of(spaces, kept, graph.values[name]) for name in spaces.segments}
    sinks: dict[str, np.ndarray | None] = {}
    for node in graph.nodes:
        x = node.inputs[0] if node.inputs else None
        keep_in = keeps.get(x.name) if x is not None else None
        keep_out = keeps.get(node.output.name)
        if is_weighted_layer(node) and (keep_in is not None or keep_out is not None):
            _rewrite_layer(graph, node, keep_in, keep_out)
            if keep_in is not None and not _is_depthwise(node):
                sinks[node.name] = keep_out
        elif keep_out is not None and node.op in (Op.BATCH_NORMALIZATION, *ELEMENTWISE_BINARY):
            _rewrite_constants(graph, node, keep_out)
        for value in node.outputs:
            keep = keeps.get(value.name)
            if keep is not None:
                value.shape = (value.shape[0], len(keep), *value.shape[2:])
        if node.op is Op.RESHAPE and keep_out is not None:
            replace_constant(graph, node, 1, np.asarray(node.output.shape, dtype=np.int64))
    return sinks


def _consumers(
    graph: Graph, spaces: ChannelSpaces, root: int, rows: dict[str, np.ndarray | None]
) -> list[GroupConsumer] | None:
    """The group-1 layers reading the group's channels (None if one reads them twice or grouped)."""
    channels = _channels(spaces, root)
    found = []
    for node in weighted_layers(graph):
        offsets, offset = [], 0
        for space, count in spaces.segments.get(node.inputs[0].name, []) if not _is_depthwise(node) else []:
            if space is not None and spaces.find(space) == root:
                offsets.append(offset)
            offset += count
        if not offsets:
            continue
        if len(offsets) > 1 or groups(node) != 1:
            return None
        per = weight_matrix(node).shape[1] // node.inputs[0].shape[1]
        columns = (offsets[0] + np.arange(channels))[:, None] * per + np.arange(per)
        found.append(GroupConsumer(node, columns, rows.get(node.output.name)))
    return found or None


def _channels(spaces: ChannelSpaces, root: int) -> int:
    return next(
        n for segs in spaces.segments.values() for s, n in segs if s is not None and spaces.find(s) == root
    )


def _shrink(spaces: ChannelSpaces, root: int, count: int) -> None:
    """The group now has ``count`` channels: later rewrites index what is left."""
    for name, segments in spaces.segments.items():
        spaces.segments[name] = [
            (s, count if s is not None and spaces.find(s) == root else n) for s, n in segments
        ]


def _first_use(graph: Graph, spaces: ChannelSpaces, root: int) -> int:
    for index, node in enumerate(graph.nodes):
        segments = spaces.segments.get(node.inputs[0].name, []) if node.inputs and node.inputs[0] else []
        if is_weighted_layer(node) and any(s is not None and spaces.find(s) == root for s, _ in segments):
            return index
    return len(graph.nodes)


def _apply(
    graph: Graph, spaces: ChannelSpaces, root: int, choice: GroupChoice, consumers: list[GroupConsumer]
) -> None:
    rewrite(graph, spaces, {root: choice.keep})
    for consumer, w, bias in zip(consumers, choice.weights, choice.biases, strict=True):
        set_weight_matrix(graph, consumer.node, w)
        if bias is not None:
            set_bias_vector(graph, consumer.node, bias)
    _shrink(spaces, root, len(choice.keep))


def _global_keeps(
    graph: Graph, spaces: ChannelSpaces, options: PruneChannelsOptions, fit: list[Feeds]
) -> dict[int, int]:
    """Channels kept per group from one ranking of the consumers' relative OBS costs on ``fit``: the
    cheapest steps of ``multiple`` channels go until the ratio of all channels is removed, no group
    losing more than twice the ratio."""
    curves, fixed, total = {}, {}, 0
    for root in prunable(spaces, options):
        channels = _channels(spaces, root)
        total += channels
        consumers = _consumers(graph, spaces, root, {})
        most = channels - uniform_keep(channels, min(2 * options.ratio, 1.0), options.multiple)
        if consumers is None or most == 0:
            fixed[root] = uniform_keep(channels, options.ratio, options.multiple)
            continue
        curves[root] = (channels, removal_costs(graph, consumers, fit, DEFAULT_SETTINGS, most))
    target = round(options.ratio * total) - sum(_channels(spaces, r) - k for r, k in fixed.items())
    return {**fixed, **allocate(curves, target, options.multiple)}


def _refit_up_to(
    graph: Graph,
    reference: Graph,
    feeds: list[Feeds],
    stop: Node | None,
    rows: dict[str, np.ndarray | None],
    fitted: set[str],
) -> None:
    """Refit the layers before ``stop`` (all with None) that nothing fitted yet, towards the reference,
    so that they absorb the error of the groups pruned before them (edgec.compression.reconstruction)."""
    layers = weighted_layers(graph)
    end = next((i for i, node in enumerate(layers) if node is stop), len(layers))
    names = [node.name for node in layers[:end] if node.name not in fitted]
    if not names:
        return
    output_rows = {n.name: rows[n.output.name] for n in layers[:end] if rows.get(n.output.name) is not None}
    reconstruct(graph, reference, feeds, names, output_rows=output_rows)
    fitted.update(names)


def prune_in_order(graph: Graph, spaces: ChannelSpaces, options: PruneChannelsOptions) -> list[GroupChoice]:
    """Group by group in the order of their consumers, each choice on the already-pruned model's inputs
    (edgec.compression.channel_selection); the sizes are those of the L1 choice (or of the global
    allocation). With ``reconstruct`` the other layers after the first pruned group are refitted in
    the same order."""
    feeds = calibration_feeds(graph, options)
    data = split(feeds)
    keeps = _global_keeps(graph, spaces, options, data[0]) if options.allocation == "global" else None
    l1 = choose_channels(spaces, options, keeps)
    reference = copy.deepcopy(graph)
    original = copy.deepcopy(spaces.segments)
    done: dict[int, np.ndarray] = {}
    choices: list[GroupChoice] = []
    order = sorted(l1, key=lambda r: _first_use(graph, spaces, r))
    first = _first_use(graph, spaces, order[0]) if order else 0
    fitted = {node.name for node in graph.nodes[:first] if is_weighted_layer(node)}  # no error to absorb
    for root in order:
        rows = {
            name: _indices(spaces, done, segs, sum(n for _, n in segs)) for name, segs in original.items()
        }
        consumers = _consumers(graph, spaces, root, rows)
        if options.reconstruct and consumers:
            _refit_up_to(graph, reference, feeds, consumers[0].node, rows, fitted)
        settings = replace(DEFAULT_SETTINGS, seed=DEFAULT_SETTINGS.seed + 10 * len(choices))
        choice = (
            GroupChoice(l1[root], [], [], "l1 (consumers not fitted)", np.nan, np.nan)
            if consumers is None
            else choose_group(graph, reference, consumers, data, l1[root], len(l1[root]), settings)
        )
        consumers = consumers or []
        _apply(graph, spaces, root, choice, consumers)
        fitted.update(c.node.name for c in consumers)
        done[root] = choice.keep
        choices.append(choice)
    if options.reconstruct:
        rows = {
            name: _indices(spaces, done, segs, sum(n for _, n in segs)) for name, segs in original.items()
        }
        _refit_up_to(graph, reference, feeds, None, rows, fitted)
    return choices


@register("prune-channels", PruneChannelsOptions)
def prune_channels(graph: Graph, options: PruneChannelsOptions) -> int:
    """Remove the least important output channels of Conv/Gemm/MatMul groups; returns the groups pruned."""
    if not 0.0 <= options.ratio < 1.0:
        raise UsageError(f"pass 'prune-channels': ratio must be in [0, 1), got {options.ratio}")
    if options.allocation not in ("uniform", "global"):
        raise UsageError("pass 'prune-channels': allocation must be uniform or global")
    if options.criterion not in CRITERIA or options.multiple < 1:
        raise UsageError(
            f"pass 'prune-channels': criterion must be one of {', '.join(CRITERIA)} and multiple at least 1"
        )
    spaces = analyze(graph)
    if options.criterion == "obs":
        pruned = len(prune_in_order(graph, spaces, options))
        graph.prune_unused_constants()
        return pruned
    kept = choose_channels(spaces, options)
    if not kept:
        return 0
    reference = copy.deepcopy(graph) if options.reconstruct else None
    sinks = rewrite(graph, spaces, kept)
    if reference is not None:
        feeds = calibration_feeds(graph, options)
        rows = {name: keep for name, keep in sinks.items() if keep is not None}
        reconstruct(graph, reference, feeds, list(sinks), output_rows=rows)
    graph.prune_unused_constants()
    return len(kept)
