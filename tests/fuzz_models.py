"""Seeded mutations of the shared models' protobufs for the fuzz test (issue 19).

Seeds are the three shared models and prefixes of them cut at several nodes
(onnx.utils.Extractor: real ops, attributes and weights, small enough to
load in milliseconds). A mutation works on the bytes (truncation, flipped
bytes) or on the parsed ModelProto (dims, attributes, wiring, op types,
initializers, opset, element types, dropped nodes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx.utils import Extractor

from edgec.frontend.shapes import fix_input_shapes

MODELS: Mapping[str, Mapping[str, tuple[int, ...]]] = {
    "efficientnet_lite0.onnx": {},
    "ppocr_mobile_v2_cls.onnx": {"x": (1, 3, 48, 192)},
    "yolox_det.onnx": {},
}
CUTS = (0.03, 0.08, 0.15, 0.3, 0.5, 0.8)
DIMS = (0, -1, -7, 1, 3, 2**31, 2**40)
INTS = (-(2**31), -2, -1, 0, 1, 2, 3, 7, 1000, 2**31, 2**62)
FLOATS = (math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-30, 1e30)
STRINGS = (b"", b"foo", b"NOTSET", b"nearest", b"\x00\xff")
OPS = (
    "Relu",
    "Conv",
    "Add",
    "Reshape",
    "Transpose",
    "Concat",
    "Gemm",
    "MatMul",
    "Resize",
    "Slice",
    "Pad",
    "Squeeze",
    "Unsqueeze",
    "Gather",
    "Split",
    "Softmax",
    "ReduceMean",
    "Expand",
    "Tile",
    "Cast",
    "Clip",
    "Identity",
    "BatchNormalization",
    "MaxPool",
    "GlobalAveragePool",
    "ConstantOfShape",
    "Range",
    "Where",
)


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    shapes: Mapping[str, tuple[int, ...]]
    weight: float


def seeds(models: Path) -> list[Seed]:
    """Each shared model whole (rarely picked: the big ones take a second to load) and cut."""
    found = []
    for file, shapes in MODELS.items():
        model = onnx.load(models / file)
        found.append(Seed(file, model.SerializeToString(), shapes, 0.3 if file.startswith("ppocr") else 0.05))
        fix_input_shapes(model, file, shapes, 1)
        extractor = Extractor(onnx.shape_inference.infer_shapes(model, data_prop=True))
        nodes = [n for n in model.graph.node if n.op_type != "Constant"]
        for cut in CUTS:
            node = nodes[int(cut * len(nodes))]
            sub = extractor.extract_model([i.name for i in model.graph.input[:1]], [node.output[0]])
            found.append(Seed(f"{file}@{node.op_type}:{cut}", sub.SerializeToString(), shapes, 1.0))
    return found


def pick(rng: np.random.Generator, found: Sequence[Seed]) -> Seed:
    weights = np.array([s.weight for s in found])
    return found[int(rng.choice(len(found), p=weights / weights.sum()))]


def _truncate(rng: np.random.Generator, data: bytes) -> tuple[str, bytes]:
    end = int(rng.integers(0, len(data)))
    return f"truncate at {end}", data[:end]


def _flip(rng: np.random.Generator, data: bytes) -> tuple[str, bytes]:
    mutable = bytearray(data)
    places = rng.integers(0, len(data), int(rng.integers(1, 9)))
    for place in places:
        mutable[place] ^= int(rng.integers(1, 256))
    return f"flip bytes {sorted(int(p) for p in places)}", bytes(mutable)


def _dim(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    infos = [i for i in [*model.graph.input, *model.graph.output] if i.type.tensor_type.shape.dim]
    if not infos:
        return "dim: none"
    info = infos[int(rng.integers(len(infos)))]
    dims = info.type.tensor_type.shape.dim
    index = int(rng.integers(len(dims)))
    if rng.random() < 0.2:
        dims[index].dim_param = "fuzz"
        return f"dim {info.name}[{index}] = 'fuzz'"
    value = DIMS[int(rng.integers(len(DIMS)))]
    dims[index].dim_value = value
    return f"dim {info.name}[{index}] = {value}"


def _attribute(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    nodes = [n for n in model.graph.node if n.attribute]
    if not nodes:
        return "attribute: none"
    node = nodes[int(rng.integers(len(nodes)))]
    attr = node.attribute[int(rng.integers(len(node.attribute)))]
    roll = rng.random()
    if roll < 0.1:
        node.attribute.remove(attr)
        return f"attribute {node.name}.{attr.name} removed"
    if attr.type == onnx.AttributeProto.INT:
        attr.i = INTS[int(rng.integers(len(INTS)))]
    elif attr.type == onnx.AttributeProto.INTS:
        values = list(attr.ints) or [1]
        if roll < 0.4:
            values = values[: int(rng.integers(0, len(values) + 1))]
        else:
            values[int(rng.integers(len(values)))] = INTS[int(rng.integers(len(INTS)))]
        del attr.ints[:]
        attr.ints.extend(values)
    elif attr.type == onnx.AttributeProto.FLOAT:
        attr.f = FLOATS[int(rng.integers(len(FLOATS)))]
    elif attr.type == onnx.AttributeProto.STRING:
        attr.s = STRINGS[int(rng.integers(len(STRINGS)))]
    elif attr.type == onnx.AttributeProto.TENSOR:
        attr.t.dims.append(int(rng.integers(0, 4)))
    return f"attribute {node.name}.{attr.name} changed"


def _names(model: onnx.ModelProto) -> list[str]:
    names = [t.name for t in model.graph.initializer] + [i.name for i in model.graph.input]
    return names + [o for n in model.graph.node for o in n.output]


def _rewire(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    nodes = [n for n in model.graph.node if n.input]
    if not nodes:
        return "rewire: none"
    node = nodes[int(rng.integers(len(nodes)))]
    index = int(rng.integers(len(node.input)))
    names = [*_names(model), "", "missing"]
    node.input[index] = names[int(rng.integers(len(names)))]
    return f"rewire {node.name} input {index} -> {node.input[index]!r}"


def _op_type(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    if not model.graph.node:
        return "op: none"
    node = model.graph.node[int(rng.integers(len(model.graph.node)))]
    node.op_type = OPS[int(rng.integers(len(OPS)))]
    return f"op {node.name} -> {node.op_type}"


def _initializer(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    if not model.graph.initializer:
        return "initializer: none"
    tensor = model.graph.initializer[int(rng.integers(len(model.graph.initializer)))]
    roll = rng.random()
    if roll < 0.3 and tensor.dims:
        tensor.dims[int(rng.integers(len(tensor.dims)))] = DIMS[int(rng.integers(len(DIMS)))]
    elif roll < 0.5:
        tensor.dims.append(int(rng.integers(1, 4)))
    elif roll < 0.7:
        tensor.data_type = int(rng.integers(0, 24))
    elif tensor.raw_data:
        tensor.raw_data = tensor.raw_data[: int(rng.integers(0, len(tensor.raw_data)))]
    else:
        del tensor.dims[:]
    return f"initializer {tensor.name} changed"


def _drop_node(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    if not model.graph.node:
        return "drop: none"
    index = int(rng.integers(len(model.graph.node)))
    name = model.graph.node[index].name
    del model.graph.node[index]
    return f"drop node {name}"


def _opset(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    version = (1, 6, 7, 9, 11, 12, 13, 17, 21, 22, 99)[int(rng.integers(11))]
    model.opset_import[0].version = version
    return f"opset {version}"


def _elem_type(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    infos = [*model.graph.input, *model.graph.output]
    info = infos[int(rng.integers(len(infos)))]
    info.type.tensor_type.elem_type = int(rng.integers(0, 24))
    return f"elem_type {info.name} = {info.type.tensor_type.elem_type}"


def _output(rng: np.random.Generator, model: onnx.ModelProto) -> str:
    names = [*_names(model), "missing"]
    model.graph.output[0].name = names[int(rng.integers(len(names)))]
    return f"output -> {model.graph.output[0].name!r}"


STRUCTURED: tuple[Callable[[np.random.Generator, onnx.ModelProto], str], ...] = (
    _dim,
    _attribute,
    _attribute,
    _rewire,
    _op_type,
    _initializer,
    _drop_node,
    _opset,
    _elem_type,
    _output,
)


def mutate(rng: np.random.Generator, data: bytes) -> tuple[str, bytes]:
    """One mutated copy of ``data`` and a description of what changed."""
    roll = rng.random()
    if roll < 0.1:
        return _truncate(rng, data)
    if roll < 0.25:
        return _flip(rng, data)
    model = onnx.ModelProto()
    model.ParseFromString(data)
    steps = [
        STRUCTURED[int(rng.integers(len(STRUCTURED)))](rng, model) for _ in range(int(rng.integers(1, 4)))
    ]
    return "; ".join(steps), model.SerializeToString()
