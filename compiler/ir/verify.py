"""``verify(graph)``: the IR's invariants, checked after every pass in tests.

- every node's op is in the closed op set, and node names are unique;
- topological order: each input is a graph input, a constant or the output
  of an earlier node;
- producers and uses agree with the nodes' input and output lists;
- no dangling values: each value is an input, a constant or produced;
- static shapes everywhere, consistent with ONNX's shape rules for each op
  (the graph is exported without the IR's shapes and ONNX's strict shape
  inference must arrive at the same ones).
"""

from __future__ import annotations

import onnx

from edgec.errors import VerificationError
from edgec.ir.graph import Graph, Node, Value
from edgec.ir.onnx_export import onnx_dtype, to_onnx
from edgec.ir.ops import Op
from edgec.ir.printer import format_node


def _fail(graph: Graph, message: str, node: Node | None = None) -> VerificationError:
    where = f"\n  at: {format_node(node)}" if node is not None else ""
    return VerificationError(f"graph '{graph.name}' is not valid IR: {message}{where}")


def _check_value(graph: Graph, value: Value, node: Node | None) -> None:
    if graph.values.get(value.name) is not value:
        raise _fail(graph, f"value '{value.name}' is not registered in the graph", node)
    if value.shape is None or any(not isinstance(d, int) or d < 0 for d in value.shape):
        raise _fail(graph, f"value '{value.name}' has no static shape ({value.shape})", node)


def _check_structure(graph: Graph) -> None:
    defined = {id(v) for v in graph.inputs} | {id(v) for v in graph.constants()}
    names: set[str] = set()
    for node in graph.nodes:
        if not isinstance(node.op, Op):
            raise _fail(graph, f"op {node.op!r} is not in the IR's op set", node)
        if node.name in names:
            raise _fail(graph, f"node name '{node.name}' is not unique", node)
        names.add(node.name)
        for index, value in enumerate(node.inputs):
            if value is None:
                continue
            _check_value(graph, value, node)
            if id(value) not in defined:
                raise _fail(graph, f"input '{value.name}' is used before it is defined", node)
            if (node, index) not in value.uses:
                raise _fail(graph, f"input '{value.name}' does not record this use", node)
        for value in node.outputs:
            _check_value(graph, value, node)
            if value.producer is not node:
                raise _fail(graph, f"output '{value.name}' does not record its producer", node)
            defined.add(id(value))
    nodes = {id(n) for n in graph.nodes}
    for value in graph.values.values():
        if value.producer is None and not value.is_constant and value not in graph.inputs:
            raise _fail(graph, f"value '{value.name}' is dangling: no producer, not an input or constant")
        if value.producer is not None and id(value.producer) not in nodes:
            raise _fail(graph, f"value '{value.name}' is produced by a node outside the graph")
        for user, index in value.uses:
            if id(user) not in nodes or user.inputs[index] is not value:
                raise _fail(graph, f"value '{value.name}' records a stale use by '{user.name}'")
    for value in graph.outputs:
        _check_value(graph, value, None)
        if id(value) not in defined:
            raise _fail(graph, f"graph output '{value.name}' is never defined")


def _check_shapes(graph: Graph) -> None:
    model = to_onnx(graph, value_info=False)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise _fail(graph, f"ONNX shape inference rejects the graph: {exc}") from exc
    found = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for node in graph.nodes:
        for value in node.outputs:
            info = found.get(value.name)
            if info is None or not info.type.tensor_type.HasField("shape"):
                continue
            if info.type.tensor_type.elem_type != onnx_dtype(value.dtype):
                inferred_type = onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type)
                raise _fail(
                    graph, f"'{value.name}' has dtype {value.dtype}, op rules say {inferred_type}", node
                )
            dims = info.type.tensor_type.shape.dim
            if len(dims) != len(value.shape or ()):
                raise _fail(
                    graph, f"'{value.name}' has rank {len(value.shape or ())}, op rules say {len(dims)}", node
                )
            for axis, (dim, ours) in enumerate(zip(dims, value.shape or (), strict=True)):
                if dim.HasField("dim_value") and dim.dim_value != ours:
                    raise _fail(
                        graph,
                        f"'{value.name}' dim {axis} is {ours}, op rules say {dim.dim_value}",
                        node,
                    )


def verify(graph: Graph, shapes: bool = True) -> None:
    """Raise VerificationError naming the first broken invariant."""
    _check_structure(graph)
    if shapes:
        _check_shapes(graph)
