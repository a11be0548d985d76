"""IR -> ONNX, for every op. ONNX Runtime executes the result, which is how
any IR state is run (calibration, pass equivalence tests, accuracy checks).

Most ops export one-to-one (the IR spells them as ONNX opset 21 does). The
IR-only forms expand: ``SiLU`` to Sigmoid and Mul, a fused ``activation``
on Conv/ConvTranspose/Gemm to the activation node after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.ir.graph import Graph, Node, Value, fresh_name
from edgec.ir.onnx_downgrade import downgrade
from edgec.ir.ops import Op

OPSET = 21
IR_VERSION = 10


def onnx_dtype(dtype: np.dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class _Emitter:
    """Collects ONNX nodes and initializers while keeping generated names unique."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.taken = set(graph.values)

    def fresh(self, base: str) -> str:
        name = fresh_name(base, self.taken.__contains__)
        self.taken.add(name)
        return name

    def constant(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def emit(self, op_type: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))


def _names(values: Iterable[Value | None]) -> list[str]:
    names = [v.name if v is not None else "" for v in values]
    while names and names[-1] == "":
        names.pop()
    return names


def _attrs(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.attrs.items():
        if key in ("activation", "activation_attrs"):
            continue
        if isinstance(value, np.dtype):
            value = onnx_dtype(value)
        elif isinstance(value, np.ndarray):
            value = numpy_helper.from_array(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def _emit_activation(
    em: _Emitter, op: Op, attrs: dict[str, Any], src: str, dst: str, name: str, dtype: np.dtype
) -> None:
    if op is Op.SILU:
        sig = em.fresh(f"{name}/sigmoid")
        em.emit("Sigmoid", [src], [sig], name=sig)
        em.emit("Mul", [src, sig], [dst], name=name)
    elif op is Op.CLIP:
        lo = em.constant(f"{name}/min", np.asarray(attrs.get("min", -np.inf), dtype=dtype))
        hi = em.constant(f"{name}/max", np.asarray(attrs.get("max", np.inf), dtype=dtype))
        em.emit("Clip", [src, lo, hi], [dst], name=name)
    else:
        em.emit(op.value, [src], [dst], name=name, **attrs)


def _export_node(em: _Emitter, node: Node) -> None:
    activation: Op | None = node.attrs.get("activation")
    inputs, outputs = _names(node.inputs), [v.name for v in node.outputs]
    if node.op is Op.SILU:
        _emit_activation(em, Op.SILU, {}, inputs[0], outputs[0], node.name, node.output.dtype)
        return
    if activation is None:
        em.emit(node.op.value, inputs, outputs, name=node.name, **_attrs(node))
        return
    pre = em.fresh(f"{node.name}/preact")
    em.emit(node.op.value, inputs, [pre], name=node.name, **_attrs(node))
    act_name = em.fresh(f"{node.name}/{activation.value.lower()}")
    attrs = dict(node.attrs.get("activation_attrs", {}))
    _emit_activation(em, activation, attrs, pre, outputs[0], act_name, node.output.dtype)


def _value_info(value: Value) -> onnx.ValueInfoProto:
    shape = list(value.shape) if value.shape is not None else None
    return helper.make_tensor_value_info(value.name, onnx_dtype(value.dtype), shape)


def to_onnx(
    graph: Graph,
    extra_outputs: Iterable[str] = (),
    value_info: bool = True,
    exporters: dict[Op, Callable[[_Emitter, Node], None]] | None = None,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """Export ``graph`` as an ONNX model at opset 21 (or an older ``opset``, at least 13).

    ``extra_outputs`` exposes intermediate values as graph outputs (for
    calibration and per-node comparison). ``value_info`` records the IR's
    shapes of intermediate values; verification turns it off so that ONNX's
    own shape inference can be compared against them.
    """
    em = _Emitter(graph)
    table = exporters or {}
    for value in graph.constants():
        if value.uses or value in graph.outputs:
            em.initializers.append(numpy_helper.from_array(np.asarray(value.data, order="C"), value.name))
    for node in graph.nodes:
        table.get(node.op, _export_node)(em, node)
    outputs = list(dict.fromkeys([v.name for v in graph.outputs] + list(extra_outputs)))
    infos = []
    if value_info:
        infos = [
            _value_info(v)
            for v in graph.values.values()
            if v.producer is not None and v.name not in outputs and v.shape is not None
        ]
    onnx_graph = helper.make_graph(
        em.nodes,
        graph.name,
        [_value_info(v) for v in graph.inputs],
        [_value_info(graph.values[name]) for name in outputs],
        initializer=em.initializers,
        value_info=infos,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edgec",
        ir_version=IR_VERSION,
    )
    return model if opset == OPSET else downgrade(model, opset)
