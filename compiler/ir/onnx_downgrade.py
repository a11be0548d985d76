"""Rewrite an exported opset-21 ONNX model in an older opset's spelling.

Some consumers parse only older opsets (TensorRT 8.2 stops at opset 13,
8.5 at 17). The exporter writes opset 21; this module lowers the handful of
spellings that changed since opset 13 for the ops the IR emits:

- ops newer than the target opset expand into older ones (HardSwish,
  Gelu); the rest (e.g. LayerNormalization before 17) raise;
- Reduce* ``axes`` inputs become attributes before opset 18;
- attributes the older schema lacks are dropped when they hold the newer
  schema's default (``saturate``, ``allowzero``, ``antialias``, ...), and
  raise when they do not, since the older spelling cannot say it.

Every rewrite keeps the node's name and output names, so tensor names (and
everything keyed by them, such as a calibration cache) survive.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import defs, helper, numpy_helper

from edgec.errors import UnsupportedOpError

MIN_OPSET = 13

# Attributes added after opset 13, with the value that means "as before".
_NEUTRAL: dict[str, object] = {
    "saturate": 1,
    "block_size": 0,
    "allowzero": 0,
    "training_mode": 0,
    "antialias": 0,
    "keep_aspect_ratio_policy": b"stretch",
    "layout": 0,
    "start": 0,
    "num_outputs": None,
    "output_dtype": 0,
    "noop_with_empty_axes": 0,
    "dilations": None,
}

_AXES_TO_ATTRIBUTE = frozenset({"ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceL2"})


def _schema(op_type: str, opset: int) -> defs.OpSchema | None:
    try:
        return defs.get_schema(op_type, opset)
    except defs.SchemaError:
        return None


class _Lowering:
    """Rewrites one model's nodes; keeps generated names unique."""

    def __init__(self, model: onnx.ModelProto, opset: int) -> None:
        self.model = model
        self.opset = opset
        self.constants = {t.name: t for t in model.graph.initializer}
        self.taken = {name for node in model.graph.node for name in (*node.input, *node.output, node.name)}
        self.taken |= set(self.constants)
        self.new_initializers: list[onnx.TensorProto] = []

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def scalar(self, base: str, value: float) -> str:
        name = self.fresh(base)
        self.new_initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def error(self, node: onnx.NodeProto, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(
            f"{node.op_type} node '{node.name}' cannot be written at ONNX opset {self.opset}: {why}. "
            f"Choose a target whose runtime parses a newer opset, or change the model."
        )

    def lower(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        expand = _EXPANSIONS.get(node.op_type)
        schema = _schema(node.op_type, self.opset)
        if schema is None:
            if expand is None:
                raise self.error(node, f"{node.op_type} does not exist before opset {_since(node.op_type)}")
            return expand(self, node)
        node = self.axes_to_attribute(node) if node.op_type in _AXES_TO_ATTRIBUTE else node
        return [self.drop_new_attributes(node, schema)]

    def axes_to_attribute(self, node: onnx.NodeProto) -> onnx.NodeProto:
        if self.opset >= 18 or len(node.input) < 2 or not node.input[1]:
            return node
        axes = self.constants.get(node.input[1])
        if axes is None:
            raise self.error(node, "its axes are computed at run time; older opsets need them constant")
        lowered = onnx.NodeProto()
        lowered.CopyFrom(node)
        del lowered.input[1:]
        lowered.attribute.append(helper.make_attribute("axes", numpy_helper.to_array(axes).tolist()))
        return lowered

    def drop_new_attributes(self, node: onnx.NodeProto, schema: defs.OpSchema) -> onnx.NodeProto:
        extra = [a for a in node.attribute if a.name not in schema.attributes]
        if not extra:
            return node
        for attribute in extra:
            value = helper.get_attribute_value(attribute)
            if attribute.name not in _NEUTRAL or not _neutral(attribute.name, value):
                raise self.error(node, f"attribute {attribute.name}={value!r} has no spelling there")
        lowered = onnx.NodeProto()
        lowered.CopyFrom(node)
        del lowered.attribute[:]
        lowered.attribute.extend(a for a in node.attribute if a.name in schema.attributes)
        return lowered


def _neutral(name: str, value: object) -> bool:
    if name == "dilations":
        return isinstance(value, list) and all(d == 1 for d in value)
    return _NEUTRAL[name] is None or value == _NEUTRAL[name]


def _since(op_type: str) -> int:
    return defs.get_schema(op_type).since_version


def _hard_swish(low: _Lowering, node: onnx.NodeProto) -> list[onnx.NodeProto]:
    gate = low.fresh(f"{node.output[0]}/hardsigmoid")
    return [
        helper.make_node(
            "HardSigmoid", [node.input[0]], [gate], name=low.fresh(gate), alpha=1.0 / 6.0, beta=0.5
        ),
        helper.make_node("Mul", [node.input[0], gate], list(node.output), name=node.name),
    ]


def _gelu(low: _Lowering, node: onnx.NodeProto) -> list[onnx.NodeProto]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("approximate", b"none") != b"none":
        raise low.error(node, "the tanh approximation of Gelu is not lowered")
    x, out = node.input[0], node.output[0]
    scaled, erf, shifted, half = (low.fresh(f"{out}/{part}") for part in ("scaled", "erf", "plus1", "half"))
    return [
        helper.make_node("Div", [x, low.scalar(f"{out}/sqrt2", np.sqrt(2.0))], [scaled], name=scaled),
        helper.make_node("Erf", [scaled], [erf], name=erf),
        helper.make_node("Add", [erf, low.scalar(f"{out}/one", 1.0)], [shifted], name=shifted),
        helper.make_node("Mul", [x, low.scalar(f"{out}/0.5", 0.5)], [half], name=half),
        helper.make_node("Mul", [half, shifted], [out], name=node.name),
    ]


_EXPANSIONS: dict[str, Callable[[_Lowering, onnx.NodeProto], list[onnx.NodeProto]]] = {
    "HardSwish": _hard_swish,
    "Gelu": _gelu,
}


def downgrade(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """A copy of ``model`` (default domain at opset 21 or older) spelled at ``opset`` (13 or newer)."""
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is below {MIN_OPSET}, the oldest spelling edgec writes")
    low = _Lowering(model, opset)
    nodes = [lowered for node in model.graph.node for lowered in low.lower(node)]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(low.new_initializers)
    used = {name for node in nodes for name in node.input} | {o.name for o in out.graph.output}
    kept = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    for entry in out.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    # Older parsers warn about or refuse IR versions newer than their opset's.
    out.ir_version = helper.find_min_ir_version_for(list(out.opset_import))
    return out
