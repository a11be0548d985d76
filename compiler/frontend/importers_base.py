"""What every op importer works with: the import state and one node's view of it.

An importer is a small function ``(ctx: NodeImport) -> None``: it reads one
ONNX node through ``ctx`` and emits canonical IR nodes with ``ctx.emit``
(ONNX opset 21's spelling; ``emit`` fills every attribute the opset-21
schema gives a default and rejects attributes that opset 21 does not know,
so an old-opset attribute can never slip through unconverted).

Values keep their ONNX names in the IR, so a value is always looked up by
name: constant folding, which may run in the middle of an import to settle
a shape, replaces values by constants of the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import defs, helper, numpy_helper

from edgec.errors import ModelError, ShapeError, UnsupportedOpError
from edgec.ir.graph import Graph, Node, Shape, Value, fresh_name
from edgec.ir.ops import Op

IR_OPSET = 21

ImportFn = Callable[["NodeImport"], None]
# op type -> {first opset of a form: importer of that form}
Table = dict[str, dict[int, ImportFn]]
TensorType = tuple[np.dtype | None, Shape | None]


@dataclass
class ImportState:
    """The graph being built and what the whole import shares."""

    graph: Graph
    file: str
    types: dict[str, TensorType]
    reserved: set[str]
    used: set[str]
    resolve_shapes: Callable[[], None]
    node_names: set[str] = field(default_factory=set)

    def fresh(self, base: str) -> str:
        """A value name clashing with no ONNX tensor name and no IR value."""
        name = fresh_name(base, lambda n: n in self.reserved or n in self.graph.values)
        self.reserved.add(name)
        return name

    def node_name(self, base: str) -> str:
        name = fresh_name(base, self.node_names.__contains__)
        self.node_names.add(name)
        return name

    def current(self, value: Value) -> Value:
        """``value``, or the constant that folding put in its place."""
        return self.graph.values[value.name]


def attribute_value(attr: onnx.AttributeProto) -> Any:
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    return value


def _schema_attributes(op: Op) -> dict[str, Any]:
    return dict(defs.get_schema(op.value, IR_OPSET, "").attributes)


class NodeImport:
    """One ONNX node as its importer sees it."""

    def __init__(self, state: ImportState, proto: onnx.NodeProto, opset: int) -> None:
        self.state = state
        self.proto = proto
        self.opset = opset
        self.label = proto.name or (proto.output[0] if proto.output else proto.op_type)
        self.name = state.node_name(self.label)
        self.attrs: dict[str, Any] = {a.name: self._attribute(a) for a in proto.attribute}

    def _attribute(self, attr: onnx.AttributeProto) -> Any:
        try:
            return attribute_value(attr)
        except UnicodeDecodeError as exc:
            raise ModelError(
                f"{self.state.file}: attribute '{attr.name}' of node '{self.label}' ({self.proto.op_type}) "
                f"is not UTF-8 text; the file is corrupt."
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelError(
                f"{self.state.file}: attribute '{attr.name}' of node '{self.label}' ({self.proto.op_type}) "
                f"cannot be read ({exc}); the file is corrupt."
            ) from exc

    # -- reading the ONNX node -------------------------------------------

    def input(self, index: int) -> Value | None:
        names = self.proto.input
        return self.state.graph.values[names[index]] if index < len(names) and names[index] else None

    def value(self, index: int) -> Value:
        """Input ``index``, which the op requires."""
        value = self.input(index)
        if value is None:
            raise self.unsupported(f"lacks its required input {index}")
        return value

    @property
    def inputs(self) -> list[Value | None]:
        return [self.input(i) for i in range(len(self.proto.input))]

    def const_input(self, index: int) -> np.ndarray | None:
        value = self.input(index)
        return value.data if value is not None else None

    def require_const(self, index: int, what: str) -> np.ndarray:
        """Input ``index`` as data, folding what can be folded first if it is not constant yet."""
        if self.const_input(index) is None:
            self.state.resolve_shapes()
        data = self.const_input(index)
        if data is None:
            raise self.unsupported(f"needs a constant {what} (input {index})")
        return data

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def shape(self, index: int) -> Shape:
        """The static shape of input ``index``, settling unknown shapes first if needed."""
        value: Value | None = self.value(index)
        if value.shape is None:
            self.state.resolve_shapes()
            value = self.input(index)
        if value is None or value.shape is None:
            raise ShapeError(
                f"{self.state.file}: the shape of '{self.proto.input[index]}', input {index} of node "
                f"'{self.label}' ({self.proto.op_type}), cannot be determined; fix the input shapes "
                "with --input-shape or simplify the model's shape computation."
            )
        return value.shape

    def rank(self, index: int) -> int:
        return len(self.shape(index))

    def output_used(self, index: int) -> bool:
        return index < len(self.proto.output) and self.proto.output[index] in self.state.used

    def unsupported(self, reason: str) -> UnsupportedOpError:
        return UnsupportedOpError(
            f"{self.state.file}: node '{self.label}' ({self.proto.op_type}, opset {self.opset}) {reason}; "
            "edgec cannot import it. Re-export the model without this form of the op."
        )

    def only_first_output(self) -> None:
        """Reject the node if an optional output after the first one is used."""
        for index in range(1, len(self.proto.output)):
            if self.output_used(index):
                raise self.unsupported(f"uses its optional output {index} ('{self.proto.output[index]}')")

    # -- writing the IR ----------------------------------------------------

    def const(self, suffix: str, array: np.ndarray | Sequence[Any] | float | int) -> Value:
        return self.state.graph.constant(self.state.fresh(f"{self.name}/{suffix}"), np.asarray(array))

    def _canonical(self, op: Op, attrs: dict[str, Any]) -> dict[str, Any]:
        schema = _schema_attributes(op)
        unknown = sorted(set(attrs) - set(schema))
        if unknown:
            raise self.unsupported(f"has attribute(s) {', '.join(unknown)} that edgec does not support")
        out = dict(attrs)
        for name, spec in schema.items():
            if name not in out and spec.default_value.name:
                out[name] = attribute_value(spec.default_value)
        return out

    def _output_value(self, name: str) -> Value:
        dtype, shape = self.state.types.get(name, (None, None))
        if dtype is None:
            raise ModelError(f"{self.state.file}: the type of tensor '{name}' cannot be inferred.")
        return self.state.graph.add_value(name, dtype, shape)

    def _placeholder(self, index: int, like: Value | None) -> Value:
        """A value for an omitted optional output before a used one (e.g. LSTM's Y)."""
        if like is None:
            raise self.unsupported(f"omits output {index}")
        return self.state.graph.add_value(self.state.fresh(f"{self.name}/unused_{index}"), like.dtype, None)

    def emit(
        self,
        op: Op,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any] | None = None,
        outputs: int | None = None,
    ) -> Node:
        """The node that produces this ONNX node's (first ``outputs``) outputs."""
        names = list(self.proto.output[: outputs or len(self.proto.output)])
        while names and not names[-1]:
            names.pop()
        like = next((v for v in inputs if v is not None), None)
        values = [
            self._output_value(name) if name else self._placeholder(i, like) for i, name in enumerate(names)
        ]
        current = [self.state.current(v) if v is not None else None for v in inputs]
        return self.state.graph.add_node(
            op, current, values, self._canonical(op, attrs or {}), name=self.name
        )

    def emit_temp(
        self,
        op: Op,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any] | None = None,
        dtype: np.dtype | None = None,
    ) -> Value:
        """An intermediate node; its output's shape is settled later by shape inference."""
        source = next(v for v in inputs if v is not None)
        name = self.state.fresh(f"{self.name}/{op.value.lower()}")
        out = self.state.graph.add_value(name, dtype or source.dtype, None)
        current = [self.state.current(v) if v is not None else None for v in inputs]
        self.state.graph.add_node(
            op, current, [out], self._canonical(op, attrs or {}), name=self.state.node_name(name)
        )
        return out


def simple(op: Op) -> ImportFn:
    """An op whose ONNX form is already canonical: inputs and attributes pass through."""

    def run(ctx: NodeImport) -> None:
        ctx.emit(op, ctx.inputs, ctx.attrs)

    return run


def first_output(op: Op) -> ImportFn:
    """Like ``simple`` for ops whose optional extra outputs (training stats, masks) must be unused."""

    def run(ctx: NodeImport) -> None:
        ctx.only_first_output()
        ctx.emit(op, ctx.inputs, ctx.attrs, outputs=1)

    return run


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis
