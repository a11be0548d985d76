"""Channel groups for prune-channels: which output channels must go together, and the rewrite.

Channels are tracked through the graph as *channel spaces*: each Conv
(group 1), Gemm or MatMul with a constant weight opens one for its output
channels. A space flows unchanged through ops that act per channel
(activations, BatchNormalization, pooling, depthwise convolutions, per-channel
constants, [N, C, 1, 1] -> [N, C] reshapes). Elementwise ops join the spaces
of their full-size operands into one group (residual adds: every member of
an add group loses the same channels), Concat on the channel axis lays its
inputs' spaces side by side at their offsets. A space that reaches anything
else (a graph output, Softmax, a Transpose, ...) is frozen: it keeps all its
channels. ``rewrite`` applies the channels kept to every node on the way:
producers lose weight rows and biases, depthwise convs and BatchNorms their
per-channel parameters, consumers the weight columns of the removed
channels.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Layout, Node, Value
from edgec.ir.ops import ACTIVATIONS, ELEMENTWISE_BINARY, Op
from edgec.ir.weight_matrices import is_weighted_layer, replace_constant, weight_matrix

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

Segment = tuple[int | None, int]  # (channel space or None for fixed channels, channel count)


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


def is_depthwise(node: Node) -> bool:
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
    if is_depthwise(node) or node.op in PER_CHANNEL or (tracked and _is_squeeze_reshape(node)):
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


def prunable(spaces: ChannelSpaces, residual: bool) -> list[int]:
    """The root spaces of the unfrozen groups (residual ones only with ``residual``)."""
    joined = {spaces.find(s) for s in spaces.residual}
    return [
        root for root in spaces.producers if not spaces.is_frozen(root) and (root not in joined or residual)
    ]


def uniform_keep(channels: int, ratio: float, multiple: int) -> int:
    """The channels a group keeps: ``1 - ratio`` of them, rounded up to a multiple of ``multiple``."""
    keep = int(np.ceil(channels * (1 - ratio) / multiple) * multiple)
    return min(max(keep, 1), channels)


def choose_channels(
    spaces: ChannelSpaces, roots: list[int], criterion: str, keeps: dict[int, int]
) -> dict[int, np.ndarray]:
    """Root space -> sorted indices of the ``keeps[root]`` channels of largest weight norm (``l1`` or
    ``l2``) of its producers, for every group of ``roots`` that shrinks."""
    kept = {}
    for root in roots:
        importance = _importance(spaces.producers[root], criterion)
        channels = importance.size
        keep = keeps.get(root, channels)
        if keep < channels:
            kept[root] = np.sort(np.argsort(-importance, kind="stable")[:keep])
    return kept


def _keep_of(spaces: ChannelSpaces, kept: dict[int, np.ndarray], value: Value) -> np.ndarray | None:
    segments = spaces.segments.get(value.name)
    return None if segments is None else indices(spaces, kept, segments, value.shape[1])


def indices(
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
        if is_depthwise(node):
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
            if keep_in is not None and not is_depthwise(node):
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


def channels_of(spaces: ChannelSpaces, root: int) -> int:
    """The group's channel count, as its segments say."""
    return next(
        n for segs in spaces.segments.values() for s, n in segs if s is not None and spaces.find(s) == root
    )


def shrink(spaces: ChannelSpaces, root: int, count: int) -> None:
    """The group now has ``count`` channels: later rewrites index what is left."""
    for name, segments in spaces.segments.items():
        spaces.segments[name] = [
            (s, count if s is not None and spaces.find(s) == root else n) for s, n in segments
        ]
