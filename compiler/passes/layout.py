"""``layout``: store 4-D activations channels-last (NHWC) for backends that want it.

What ``Value.layout`` means. A value's ``shape`` is always its logical,
ONNX-order shape and every op keeps its ONNX meaning, so the graph stays
valid IR and runs under ONNX Runtime unchanged. ``layout`` says in which
order a backend *stores* a 4-D tensor: NCHW (and NONE) in the logical order,
NHWC as the logical axes (0, 2, 3, 1). Backends read the stored order of a
value from ``stored_perm``; they never choose it.

A change of stored order is an Identity node whose input and output layouts
differ (a backend lowers it to a transpose). This pass is the only place
that sets layouts and inserts such nodes:

1. graph inputs take ``io_layout`` (image-like 4-D inputs only);
2. nodes are visited in order; each op class has a rule saying which layouts
   it accepts on its inputs and which it produces: spatial ops (Conv, pools,
   Resize) work in NHWC, elementwise and axis ops (Concat, Softmax, Reduce,
   Slice, Pad...) in whatever layout their inputs have, reshapes in NHWC
   only when that order and the logical order agree (size-1 axes aside),
   Transpose in whichever output layout makes it a no-op, and every other op
   in the logical order;
3. an input in a layout its consumer does not accept gets a conversion;
   converting a value that is itself a conversion of a value already in the
   wanted layout reuses that value (transpose cancellation);
4. graph outputs take ``io_layout`` too (image-like 4-D outputs), keeping
   their names.

A CNN whose ONNX has no Transpose therefore ends with no layout conversion
inside the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edgec.errors import UsageError
from edgec.ir.graph import Graph, Layout, Node, Value
from edgec.ir.ops import ACTIVATIONS, ELEMENTWISE_BINARY, Op
from edgec.passes.manager import register

NCHW, NHWC, NONE = Layout.NCHW, Layout.NHWC, Layout.NONE
_STORED_ORDER = {NHWC: (0, 2, 3, 1)}

# Ops computed over the spatial dims of an image tensor: they work channels-last.
SPATIAL = frozenset(
    {
        Op.CONV,
        Op.CONV_TRANSPOSE,
        Op.MAX_POOL,
        Op.AVERAGE_POOL,
        Op.GLOBAL_AVERAGE_POOL,
        Op.GLOBAL_MAX_POOL,
        Op.RESIZE,
        Op.BATCH_NORMALIZATION,
    }
)

# Ops that compute the same thing in any stored order (a backend remaps their axes).
AGNOSTIC = (
    ACTIVATIONS
    | ELEMENTWISE_BINARY
    | frozenset(
        {
            Op.ABS,
            Op.CAST,
            Op.CONCAT,
            Op.ERF,
            Op.EXP,
            Op.LOG,
            Op.NEG,
            Op.PAD,
            Op.PRELU,
            Op.RECIPROCAL,
            Op.REDUCE_MAX,
            Op.REDUCE_MEAN,
            Op.REDUCE_SUM,
            Op.SLICE,
            Op.SOFTMAX,
            Op.SPLIT,
            Op.SQRT,
            Op.WHERE,
        }
    )
)

RESHAPES = frozenset({Op.RESHAPE, Op.FLATTEN, Op.SQUEEZE, Op.UNSQUEEZE})


@dataclass(frozen=True)
class LayoutOptions:
    io_layout: str = field(
        default="nhwc",
        metadata={"help": "layout of image-like 4-D graph inputs and outputs: 'nhwc' or 'nchw'"},
    )


def stored_perm(value: Value) -> tuple[int, ...]:
    """The logical axes of ``value`` in the order they are stored."""
    rank = len(value.shape or ())
    order = _STORED_ORDER.get(value.layout)
    return order if order is not None and rank == 4 else tuple(range(rank))


def stored_shape(value: Value) -> tuple[int, ...]:
    shape = value.shape or ()
    return tuple(shape[axis] for axis in stored_perm(value))


def stored_axis(value: Value, axis: int) -> int:
    """Where logical ``axis`` (negative allowed) of ``value`` sits in its stored order."""
    rank = len(value.shape or ())
    return stored_perm(value).index(axis % rank if rank else 0)


def stored_transpose(node: Node) -> tuple[int, ...]:
    """The permutation a Transpose or layout-changing Identity applies to its input's stored data."""
    source, result = node.inputs[0], node.output
    assert source is not None
    rank = len(result.shape or ())
    logical = tuple(node.attrs.get("perm") or range(rank)) if node.op is Op.TRANSPOSE else tuple(range(rank))
    inverse = {axis: position for position, axis in enumerate(stored_perm(source))}
    return tuple(inverse[logical[axis]] for axis in stored_perm(result))


def is_noop_transpose(node: Node) -> bool:
    perm = stored_transpose(node)
    return perm == tuple(range(len(perm)))


def in_logical_order(shape: Sequence[int], layout: Layout) -> bool:
    """True when storing ``shape`` in ``layout`` puts its elements in logical order."""
    order = _STORED_ORDER.get(layout, tuple(range(len(shape))))
    if len(shape) != 4:
        return True
    moved = [axis for axis in order if shape[axis] != 1]
    return moved == sorted(moved)


def _four_d(value: Value | None) -> bool:
    return value is not None and not value.is_constant and len(value.shape or ()) == 4


def _natural(rank: int, layout: Layout) -> Layout:
    return layout if rank == 4 else NONE


# -- rules: (node) -> (layout wanted per input index, layout per output) ------------------

Rule = Callable[[Node], tuple[dict[int, Layout], list[Layout]]]


def _spatial(node: Node) -> tuple[dict[int, Layout], list[Layout]]:
    wanted = {0: NHWC} if _four_d(node.inputs[0]) else {}
    return wanted, [_natural(len(v.shape or ()), NHWC) for v in node.outputs]


def _agnostic(node: Node) -> tuple[dict[int, Layout], list[Layout]]:
    data = [(i, v) for i, v in enumerate(node.inputs) if v is not None and not v.is_constant]
    four_d = [v for _, v in data if len(v.shape or ()) == 4]
    lower_rank = any(0 < len(v.shape or ()) < 4 for _, v in data)
    layout = NHWC if any(v.layout is NHWC for v in four_d) and not lower_rank else NCHW
    if layout is NHWC and any(len(v.shape or ()) != 4 for v in node.outputs):
        layout = NHWC if _reduction_keeps_order(node) else NCHW
    wanted = {i: layout for i, v in data if len(v.shape or ()) == 4}
    return wanted, [_natural(len(v.shape or ()), layout) for v in node.outputs]


def _reduction_keeps_order(node: Node) -> bool:
    """A rank-dropping reduction of NHWC data whose remaining axes stay in logical order."""
    if node.op not in (Op.REDUCE_MAX, Op.REDUCE_MEAN, Op.REDUCE_SUM):
        return False
    axes = node.const_input(1)
    if axes is None:
        return True
    reduced = {int(a) % 4 for a in axes.ravel()}
    kept = [axis for axis in _STORED_ORDER[NHWC] if axis not in reduced]
    return kept == sorted(kept)


def _reshape(node: Node) -> tuple[dict[int, Layout], list[Layout]]:
    source, result = node.inputs[0], node.output
    wanted = {}
    if _four_d(source) and source is not None:
        wanted[0] = source.layout if in_logical_order(source.shape or (), source.layout) else NCHW
    rank = len(result.shape or ())
    layout = NHWC if rank == 4 and in_logical_order(result.shape or (), NHWC) else NCHW
    return wanted, [_natural(rank, layout)]


def _transpose(node: Node) -> tuple[dict[int, Layout], list[Layout]]:
    result = node.output
    if len(result.shape or ()) != 4:
        return {}, [NONE]
    saved = result.layout
    for candidate in (NHWC, NCHW):
        result.layout = candidate
        if is_noop_transpose(node):
            result.layout = saved
            return {}, [candidate]
    result.layout = saved
    spatial_user = any(user.op in SPATIAL for user in result.users())
    return {}, [NHWC if spatial_user else NCHW]


def _logical(node: Node) -> tuple[dict[int, Layout], list[Layout]]:
    wanted = {i: NCHW for i, v in enumerate(node.inputs) if _four_d(v)}
    return wanted, [_natural(len(v.shape or ()), NCHW) for v in node.outputs]


def rule_for(op: Op) -> Rule:
    if op in SPATIAL:
        return _spatial
    if op in AGNOSTIC:
        return _agnostic
    if op in RESHAPES:
        return _reshape
    if op in (Op.TRANSPOSE, Op.IDENTITY):
        return _transpose
    return _logical


# -- conversions ---------------------------------------------------------------------------


class _Conversions:
    """Layout conversions (Identity nodes), at most one per (value, layout)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.made: dict[tuple[int, Layout], Value] = {}
        self.count = 0

    def get(self, value: Value, layout: Layout, before: Node) -> Value:
        producer = value.producer
        if producer is not None and producer.op is Op.IDENTITY and producer.inputs[0] is not None:
            source = producer.inputs[0]
            if source.layout is layout and source.shape == value.shape:
                return source
        key = (id(value), layout)
        if key not in self.made:
            converted = self.graph.add_value(
                f"{value.name}_{layout.value.lower()}", value.dtype, value.shape, layout
            )
            self.graph.add_node(Op.IDENTITY, [value], [converted], {}, before=before)
            self.made[key] = converted
            self.count += 1
        return self.made[key]


def _set_layout(value: Value, layout: Layout) -> int:
    if value.layout is layout:
        return 0
    value.layout = layout
    return 1


def _io_layout(value: Value, wanted: Layout) -> Layout:
    """``wanted`` for image-like 4-D tensors; inputs that feed only Transposes keep their order."""
    if len(value.shape or ()) != 4 or value.layout is NONE:
        return value.layout
    users = value.users()
    if users and all(user.op is Op.TRANSPOSE for user in users):
        return NCHW
    return wanted


def _relayout_output(graph: Graph, value: Value, layout: Layout) -> int:
    """Make graph output ``value`` come out in ``layout``, under the same name."""
    producer = value.producer
    if producer is None or len(producer.outputs) != 1:
        return 0
    name = value.name
    stored = graph.add_value(f"{name}_{value.layout.value.lower()}", value.dtype, value.shape, value.layout)
    graph.add_node(
        producer.op, producer.inputs, [stored], producer.attrs, name=producer.name, before=producer
    )
    graph.replace_all_uses(value, stored)
    graph.remove_node(producer)
    result = graph.add_value(name, stored.dtype, stored.shape, layout)
    graph.add_node(Op.IDENTITY, [stored], [result], {}, name=graph.unique_name(f"{name}_to_{layout.value}"))
    graph.outputs = [result if out is stored else out for out in graph.outputs]
    return 2


@register("layout", LayoutOptions)
def layout(graph: Graph, options: LayoutOptions) -> int:
    """Store 4-D activations NHWC, converting only where an op needs the logical order."""
    if options.io_layout not in ("nhwc", "nchw"):
        raise UsageError(f"pass 'layout': io_layout must be 'nhwc' or 'nchw', got '{options.io_layout}'")
    io = NHWC if options.io_layout == "nhwc" else NCHW
    changes = sum(_set_layout(v, _io_layout(v, io)) for v in graph.inputs)
    conversions = _Conversions(graph)
    for node in graph.nodes:
        wanted, produced = rule_for(node.op)(node)
        for index, layout in wanted.items():
            value = node.inputs[index]
            if value is not None and value.layout is not layout:
                graph.set_input(node, index, conversions.get(value, layout, node))
        for value, layout in zip(node.outputs, produced, strict=True):
            changes += _set_layout(value, layout)
    for value in list(graph.outputs):
        target = _io_layout(value, io)
        if value.layout is not target:
            changes += _relayout_output(graph, value, target)
    return changes + conversions.count
