"""A deterministic text form of a graph: one line per node.

    %conv_1 : f32[1,32,112,112] NCHW = Conv(%input, %w1, %b1) {group=1, pads=[0,0,1,1], ...}

Constants print in a header with their dtype, shape and a short digest of
their data, so two printouts differ exactly when the graphs differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from edgec.ir.graph import Graph, Layout, Node, Value
from edgec.ir.ops import Op

_DTYPES = {
    "float32": "f32",
    "float16": "f16",
    "float64": "f64",
    "int64": "i64",
    "int32": "i32",
    "int8": "i8",
    "uint8": "u8",
    "int16": "i16",
    "bool": "bool",
}


def format_type(value: Value) -> str:
    dtype = _DTYPES.get(value.dtype.name, value.dtype.name)
    shape = "?" if value.shape is None else ",".join(str(d) for d in value.shape)
    layout = f" {value.layout.value}" if value.layout is not Layout.NONE else ""
    return f"{dtype}[{shape}]{layout}"


def _format_attr(value: Any) -> str:
    if isinstance(value, Op):
        return value.value
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, np.ndarray):
        return f"array({value.dtype.name}{list(value.shape)})"
    if isinstance(value, float):
        return repr(float(np.float32(value)))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_attr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_format_attr(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def format_node(node: Node) -> str:
    outs = ", ".join(f"%{v.name} : {format_type(v)}" for v in node.outputs)
    args = ", ".join("%" + v.name if v is not None else "_" for v in node.inputs)
    attrs = ", ".join(f"{k}={_format_attr(v)}" for k, v in sorted(node.attrs.items()))
    users = sum(len(v.uses) for v in node.outputs)
    tail = f" {{{attrs}}}" if attrs else ""
    return f"{outs} = {node.op.value}({args}){tail}  # {node.name!r}, uses={users}"


def _digest(data: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:12]


def format_graph(graph: Graph, with_constants: bool = True) -> str:
    lines = [f"graph {graph.name!r} ("]
    lines += [f"  %{v.name} : {format_type(v)}," for v in graph.inputs]
    lines.append(") -> (" + ", ".join(f"%{v.name}" for v in graph.outputs) + ") {")
    if with_constants:
        for value in sorted(graph.constants(), key=lambda v: v.name):
            if value.data is not None and (value.uses or value in graph.outputs):
                lines.append(f"  const %{value.name} : {format_type(value)} sha256:{_digest(value.data)}")
    lines += [f"  {format_node(node)}" for node in graph.nodes]
    lines.append("}")
    return "\n".join(lines) + "\n"
