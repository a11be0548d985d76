"""Graph, Node and Value: the one small, typed graph every pass and backend shares.

A ``Value`` is a tensor: name, dtype, shape, layout, optional constant data
and optional quantization parameters. It knows its producer and its uses,
and the ``Graph`` keeps both up to date: nodes are created, rewired and
removed only through the graph, and removing a node whose outputs are still
used raises.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgec.errors import VerificationError
from edgec.ir.ops import Op

Shape = tuple[int, ...]


class Layout(enum.Enum):
    """Memory layout of a 4-D activation; ``NONE`` for everything else."""

    NONE = ""
    NCHW = "NCHW"
    NHWC = "NHWC"


@dataclass
class QuantParams:
    """Affine quantization: ``real = (q - zero_point) * scale``; per-channel on ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype
    axis: int | None = None


@dataclass(eq=False)
class Value:
    """A tensor. ``shape`` is None only inside the frontend, before shapes are fixed."""

    name: str
    dtype: np.dtype
    shape: Shape | None
    layout: Layout = Layout.NONE
    data: np.ndarray | None = None
    quant: QuantParams | None = None
    producer: Node | None = field(default=None, repr=False)
    uses: list[tuple[Node, int]] = field(default_factory=list, repr=False)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def rank(self) -> int:
        if self.shape is None:
            raise VerificationError(f"value '{self.name}' has no static shape")
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape is not None else 0

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def users(self) -> list[Node]:
        """Distinct consuming nodes, in order of first use."""
        return list(dict.fromkeys(node for node, _ in self.uses))


@dataclass(eq=False)
class Node:
    """One operation. Inputs may be None where an optional input is omitted."""

    op: Op
    name: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)

    def input(self, index: int) -> Value | None:
        return self.inputs[index] if index < len(self.inputs) else None

    def const_input(self, index: int) -> np.ndarray | None:
        value = self.input(index)
        return value.data if value is not None else None

    def computed_input(self, *indices: int) -> Value | None:
        """The first input among ``indices`` that is present and not a constant (None: all static)."""
        for index in indices:
            value = self.input(index)
            if value is not None and not value.is_constant:
                return value
        return None

    @property
    def output(self) -> Value:
        return self.outputs[0]


class Graph:
    """A topologically ordered sequence of nodes over named values.

    The order is a linked list, so inserting before a node and removing one
    cost O(1) whatever the graph's size; ``nodes`` is a snapshot tuple,
    rebuilt only after the order changed.
    """

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self._next: dict[Node, Node | None] = {}
        self._prev: dict[Node, Node | None] = {}
        self._first: Node | None = None
        self._last: Node | None = None
        self._snapshot: tuple[Node, ...] | None = ()
        self.values: dict[str, Value] = {}

    # -- values ---------------------------------------------------------

    def unique_name(self, base: str) -> str:
        return fresh_name(base, self.values.__contains__)

    def add_value(
        self,
        name: str,
        dtype: np.dtype | type,
        shape: Shape | None,
        layout: Layout = Layout.NONE,
        data: np.ndarray | None = None,
    ) -> Value:
        value = Value(self.unique_name(name), np.dtype(dtype), shape, layout, data)
        self.values[value.name] = value
        return value

    def constant(self, name: str, array: np.ndarray | float | int | Sequence[Any]) -> Value:
        data = np.asarray(array)
        return self.add_value(name, data.dtype, tuple(data.shape), data=data)

    def add_input(self, name: str, dtype: np.dtype | type, shape: Shape, layout: Layout) -> Value:
        value = self.add_value(name, dtype, shape, layout)
        self.inputs.append(value)
        return value

    def rename_value(self, value: Value, name: str) -> None:
        """Give ``value`` the unused ``name`` (e.g. to hand a graph output's name to a new value)."""
        if name in self.values:
            raise VerificationError(f"value name '{name}' is already taken")
        del self.values[value.name]
        value.name = name
        self.values[name] = value

    def remove_value(self, value: Value) -> None:
        if value.uses or value.producer is not None or value in self.outputs or value in self.inputs:
            raise VerificationError(f"value '{value.name}' is still in use and cannot be removed")
        del self.values[value.name]

    # -- nodes ----------------------------------------------------------

    def add_node(
        self,
        op: Op,
        inputs: Sequence[Value | None],
        outputs: Sequence[Value],
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        before: Node | None = None,
    ) -> Node:
        """Create a node; it is appended, or inserted just before ``before``."""
        node = Node(op, name or outputs[0].name, list(inputs), list(outputs), dict(attrs or {}))
        for index, value in enumerate(node.inputs):
            if value is not None:
                value.uses.append((node, index))
        for value in node.outputs:
            if value.producer is not None:
                raise VerificationError(f"value '{value.name}' already has producer '{value.producer.name}'")
            value.producer = node
        self._link(node, before)
        return node

    def make_node(
        self,
        op: Op,
        inputs: Sequence[Value | None],
        like: Value,
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        before: Node | None = None,
    ) -> Node:
        """Create a one-output node whose output has the dtype, shape and layout of ``like``."""
        out = self.add_value(name or f"{like.name}_{op.value.lower()}", like.dtype, like.shape, like.layout)
        return self.add_node(op, inputs, [out], attrs, name=out.name, before=before)

    def set_input(self, node: Node, index: int, value: Value | None) -> None:
        old = node.inputs[index]
        if old is not None:
            old.uses.remove((node, index))
        node.inputs[index] = value
        if value is not None:
            value.uses.append((node, index))

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Point every use of ``old`` (including graph outputs) at ``new``."""
        for node, index in list(old.uses):
            self.set_input(node, index, new)
        self.outputs = [new if value is old else value for value in self.outputs]

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused; its outputs go with it."""
        for value in node.outputs:
            if value.uses or value in self.outputs:
                user = value.uses[0][0].name if value.uses else "graph output"
                raise VerificationError(
                    f"cannot remove node '{node.name}': its output '{value.name}' is used by '{user}'"
                )
        for index in range(len(node.inputs)):
            self.set_input(node, index, None)
        for value in node.outputs:
            value.producer = None
            del self.values[value.name]
        self._unlink(node)

    def bypass(self, node: Node, replacement: Value) -> None:
        """Redirect the uses of a one-output node to ``replacement`` and remove the node."""
        self.replace_all_uses(node.output, replacement)
        self.remove_node(node)

    # -- order ----------------------------------------------------------

    @property
    def nodes(self) -> tuple[Node, ...]:
        if self._snapshot is None:
            ordered, node = [], self._first
            while node is not None:
                ordered.append(node)
                node = self._next[node]
            self._snapshot = tuple(ordered)
        return self._snapshot

    @nodes.setter
    def nodes(self, ordered: Sequence[Node]) -> None:
        self._next, self._prev, self._first, self._last = {}, {}, None, None
        for node in ordered:
            self._link(node, None)

    def _link(self, node: Node, before: Node | None) -> None:
        """Insert ``node`` before ``before``, or at the end."""
        prev = self._last if before is None else self._prev[before]
        self._prev[node], self._next[node] = prev, before
        if prev is None:
            self._first = node
        else:
            self._next[prev] = node
        if before is None:
            self._last = node
        else:
            self._prev[before] = node
        self._snapshot = None

    def _unlink(self, node: Node) -> None:
        prev, nxt = self._prev.pop(node), self._next.pop(node)
        if prev is None:
            self._first = nxt
        else:
            self._next[prev] = nxt
        if nxt is None:
            self._last = prev
        else:
            self._prev[nxt] = prev
        self._snapshot = None

    # -- queries --------------------------------------------------------

    def constants(self) -> Iterator[Value]:
        return (value for value in self.values.values() if value.is_constant)

    def prune_unused_constants(self) -> int:
        unused = [v for v in self.constants() if not v.uses and v not in self.outputs and v.producer is None]
        for value in unused:
            del self.values[value.name]
        return len(unused)

    def toposort(self) -> None:
        """Reorder nodes topologically, keeping the current order among independent nodes."""
        position = {id(node): i for i, node in enumerate(self.nodes)}
        pending = {id(node): len(list(_produced_inputs(node))) for node in self.nodes}
        heap = [(position[id(n)], n.name, n) for n in self.nodes if pending[id(n)] == 0]
        heapq.heapify(heap)
        ordered: list[Node] = []
        while heap:
            _, _, node = heapq.heappop(heap)
            ordered.append(node)
            for user in _users_of(node):
                pending[id(user)] -= sum(1 for v in _produced_inputs(user) if v.producer is node)
                if pending[id(user)] == 0:
                    heapq.heappush(heap, (position[id(user)], user.name, user))
        if len(ordered) != len(self.nodes):
            raise VerificationError(f"graph '{self.name}' has a cycle")
        self.nodes = ordered

    def node_by_name(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def nodes_of(self, *ops: Op) -> list[Node]:
        return [node for node in self.nodes if node.op in ops]


def fresh_name(base: str, taken: Callable[[str], bool]) -> str:
    """``base``, else ``base_1``, ``base_2``, ...: the first name ``taken`` does not claim."""
    name, n = base, 0
    while taken(name):
        n += 1
        name = f"{base}_{n}"
    return name


def _produced_inputs(node: Node) -> Iterable[Value]:
    return (v for v in node.inputs if v is not None and v.producer is not None)


def _users_of(node: Node) -> list[Node]:
    users: dict[int, Node] = {}
    for value in node.outputs:
        for user, _ in value.uses:
            users.setdefault(id(user), user)
    return list(users.values())
