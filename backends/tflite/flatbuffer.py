"""Reading a converted .tflite: its ops (name, version), tensors, and a tensor-arena estimate.

Uses the flatbuffer schema bindings LiteRT ships (``ai_edge_litert.schema_py_generated``),
so the op list is the model's own, delegates aside.
"""

from __future__ import annotations

from dataclasses import dataclass

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
