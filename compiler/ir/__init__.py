"""The IR: Graph, Node and Value over a closed, canonical op set."""

from edgec.ir.graph import Graph, Layout, Node, QuantParams, Shape, Value
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.ir.printer import format_graph
from edgec.ir.verify import verify

__all__ = [
    "Graph",
    "Layout",
    "Node",
    "Op",
    "QuantParams",
    "Shape",
    "Value",
    "format_graph",
    "to_onnx",
    "verify",
]
