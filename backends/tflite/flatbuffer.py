"""Reading a converted .tflite: its ops (name, version), tensors, and a tensor-arena estimate.

Uses the flatbuffer schema bindings LiteRT ships (``ai_edge_litert.schema_py_generated``),
so the op list is the model's own, delegates aside.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {
    code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")
}
_TYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "int32": 4,
    "int64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "bool": 1,
}


@dataclass(frozen=True)
class TfliteOp:
    name: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TfliteTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    constant: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * _TYPE_BYTES.get(self.dtype, 4)


@dataclass(frozen=True)
class TfliteModel:
    ops: tuple[TfliteOp, ...]
    tensors: tuple[TfliteTensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def used_ops(self) -> list[str]:
        """Distinct op names, sorted."""
        return sorted(set(self.op_names()))


def read_model(data: bytes) -> TfliteModel:
    """The first subgraph of a .tflite flatbuffer."""
    model = schema.Model.GetRootAs(data, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        codes.append((_OP_NAMES.get(builtin, f"BUILTIN_{builtin}"), code.Version()))
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name, version = codes[op.OpcodeIndex()]
        ops.append(
            TfliteOp(name, version, tuple(op.InputsAsNumpy().tolist()), tuple(op.OutputsAsNumpy().tolist()))
        )
    tensors = []
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        buffer = model.Buffers(tensor.Buffer())
        constant = buffer.DataLength() > 0 or buffer.Offset() > 1
        shape = tuple(tensor.ShapeAsNumpy().tolist()) if tensor.ShapeLength() else ()
        tensors.append(
            TfliteTensor(tensor.Name().decode("utf-8"), shape, _TYPE_NAMES.get(tensor.Type(), "?"), constant)
        )
    return TfliteModel(
        tuple(ops),
        tuple(tensors),
        tuple(graph.InputsAsNumpy().tolist()),
        tuple(graph.OutputsAsNumpy().tolist()),
    )


def arena_estimate(model: TfliteModel, alignment: int = 16) -> int:
    """Peak bytes of simultaneously live activations (each rounded up to ``alignment``).

    A lower bound of what TFLite Micro's greedy planner needs; kernels' scratch buffers and the
    interpreter's own structures come on top (the bundle's README says to measure on the board).
    """
    last_use: dict[int, int] = {}
    for step, op in enumerate(model.ops):
        for index in op.inputs:
            if index >= 0:
                last_use[index] = step
    for index in model.outputs:
        last_use[index] = len(model.ops)

    def size(index: int) -> int:
        return -(-model.tensors[index].nbytes // alignment) * alignment

    live = {i for i in model.inputs}
    peak = sum(size(i) for i in live)
    for step, op in enumerate(model.ops):
        live |= {i for i in op.outputs if i >= 0 and not model.tensors[i].constant}
        peak = max(peak, sum(size(i) for i in live))
        live = {i for i in live if last_use.get(i, -1) > step}
    return peak


def _numbered(maps: list, prefix: str) -> list[int] | None:
    """The tensor indexes of ``maps`` (a signature's inputs or outputs) ordered by the number in
    their names ``<prefix><i>``, or None if a name is not of that form."""
    keyed = []
    for entry in maps:
        name = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
        if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
            return None
        keyed.append((int(name[len(prefix) :]), entry.tensorIndex))
    return [index for _, index in sorted(keyed)]


def in_signature_order(data: bytes, inputs: str = "input_", outputs: str = "output_") -> bytes:
    """``data`` with the first subgraph's inputs and outputs in the order of the numbers in their
    signature names (``input_0``, ``input_1``, ...). A SavedModel conversion orders them by name,
    so ``input_10`` comes before ``input_2``; the runners read them by position."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    if not model.signatureDefs:
        return data
    signature = model.signatureDefs[0]
    ins, outs = _numbered(signature.inputs, inputs), _numbered(signature.outputs, outputs)
    graph = model.subgraphs[0]
    if ins is None or outs is None or (list(graph.inputs) == ins and list(graph.outputs) == outs):
        return data
    graph.inputs, graph.outputs = ins, outs
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
