"""Static shapes: fixing the model's input shapes and settling every other one.

Input dims come from ``--input-shape`` (``input_shapes``), else from the
model; a dynamic dim 0 takes ``default_batch``; any other dynamic dim is a
ShapeError that says what to pass. After import, constant folding and ONNX
shape inference alternate until every value has a static shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from edgec.errors import ShapeError, UsageError
from edgec.frontend.importers_base import TensorType
from edgec.ir.graph import Graph, Shape
from edgec.ir.onnx_export import to_onnx
from edgec.limits import tensor_budget, too_big
from edgec.passes.fold_constants import FoldConstantsOptions, fold_constants, fold_node

Dims = list[int | None]


def real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers (old models list weights as inputs too)."""
    weights = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in weights]


def _declared_dims(info: onnx.ValueInfoProto) -> Dims | None:
    """Static dims as ints (even invalid ones <= 0), dynamic ones (dim_param, no value) as None;
    None if the rank is unknown."""
    tensor = info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]


def _check_declared(file: str, info: onnx.ValueInfoProto, dims: Dims) -> None:
    """A static dim must be positive: 0 or below is an invalid model, not a dynamic dim."""
    bad = [i for i, d in enumerate(dims) if d is not None and d <= 0]
    if bad:
        shown = _format_dims(dims)
        raise ShapeError(
            f"{file}: input '{info.name}' declares dim {bad[0]} as {dims[bad[0]]} ({shown}), which is not a "
            f"valid size: a static dim must be positive (a dynamic one has a name or no value). Fix the "
            f"model, or pass --input-shape {info.name}=... with the sizes you deploy at."
        )


def _check_size(file: str, info: onnx.ValueInfoProto, dims: list[int]) -> None:
    dtype = helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type) if _known_type(info) else None
    reason = too_big(dims, dtype, tensor_budget())
    if reason is not None:
        raise ShapeError(f"{file}: input '{info.name}': {reason}. Use smaller input dims.")


def _known_type(info: onnx.ValueInfoProto) -> bool:
    return info.type.tensor_type.elem_type in helper.get_all_tensor_dtypes()


def _dim_label(info: onnx.ValueInfoProto, index: int) -> str:
    param = info.type.tensor_type.shape.dim[index].dim_param
    return f"dim {index} ('{param}')" if param else f"dim {index}"


def _format_dims(dims: Sequence[int | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


def _override(file: str, info: onnx.ValueInfoProto, dims: Dims | None, given: Sequence[int]) -> Dims:
    wanted = list(given)
    if dims is not None and len(dims) != len(wanted):
        raise UsageError(
            f"--input-shape {info.name}={_format_dims(wanted)} has {len(wanted)} dims, but input "
            f"'{info.name}' of {file} has rank {len(dims)} ({_format_dims(dims)})."
        )
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in wanted):
        raise UsageError(f"--input-shape {info.name}={wanted}: every dim must be a positive integer.")
    declared = dims or [None] * len(wanted)
    fixed = [i for i, (d, w) in enumerate(zip(declared, wanted, strict=True)) if d is not None and 0 < d != w]
    if fixed:
        raise ShapeError(
            f"--input-shape {info.name}={_format_dims(wanted)} contradicts the static shape "
            f"{_format_dims(dims or [])} of input '{info.name}' in {file} (dim {fixed[0]}); --input-shape "
            f"sets dynamic dims only. Give the model's own sizes there, or re-export it with dynamic dims."
        )
    return [int(d) for d in wanted]


def _dynamic_error(file: str, info: onnx.ValueInfoProto, dims: Dims) -> ShapeError:
    missing = [i for i, d in enumerate(dims) if d is None]
    labels = " and ".join(_dim_label(info, i) for i in missing)
    which = f"dims {' and '.join(map(str, missing))}" if len(missing) > 1 else f"dim {missing[0]}"
    example = [d if d is not None else (1 if i == 0 else 224) for i, d in enumerate(dims)]
    return ShapeError(
        f"{file}: input '{info.name}' has a dynamic {labels} ({_format_dims(dims)}); edgec needs static "
        f"shapes. Pass e.g. --input-shape {info.name}={_format_dims(example)}, using the sizes you deploy "
        f"at for {which}."
    )


def fix_input_shapes(
    model: onnx.ModelProto,
    file: str,
    input_shapes: Mapping[str, Sequence[int]] | None,
    default_batch: int | None,
) -> None:
    """Write static dims into the model's inputs, or raise naming the input and dim."""
    inputs = {info.name: info for info in real_inputs(model)}
    for name in input_shapes or {}:
        if name not in inputs:
            raise UsageError(
                f"--input-shape names '{name}', but {file} has no input of that name; "
                f"its inputs are: {', '.join(inputs) or 'none'}."
            )
    for name, info in inputs.items():
        dims = _declared_dims(info)
        if input_shapes and name in input_shapes:
            dims = _override(file, info, dims, input_shapes[name])
        elif dims is None:
            raise ShapeError(
                f"{file}: input '{name}' has no declared shape; pass --input-shape {name}=... with its dims."
            )
        else:
            _check_declared(file, info, dims)
        if dims and dims[0] is None and default_batch is not None:
            dims[0] = default_batch
        if any(d is None for d in dims):
            raise _dynamic_error(file, info, dims)
        _check_size(file, info, dims)
        shape = info.type.tensor_type.shape
        shape.ClearField("dim")
        for d in dims:
            shape.dim.add().dim_value = d


def _tensor_type(info: onnx.ValueInfoProto) -> TensorType:
    tensor = info.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else None
    if not tensor.HasField("shape"):
        return dtype, None
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else None for d in tensor.shape.dim]
    known = [d for d in dims if d is not None]
    shape: Shape | None = tuple(known) if len(known) == len(dims) else None
    return (np.dtype(dtype) if dtype is not None else None), shape


def infer_types(model: onnx.ModelProto, file: str) -> dict[str, TensorType]:
    """Dtype and static shape (None where unknown) of every tensor, by ONNX shape inference.

    The model's own value_info and output shapes are dropped first: exporters
    leave stale or -1 dims there that would contradict the fixed inputs.
    """
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        detail = " ".join(str(exc).split())
        raise ShapeError(
            f"{file}: ONNX shape inference rejects the model with these input shapes: {detail}"
        ) from exc
    infos = _value_infos(inferred.graph)
    return {info.name: _tensor_type(info) for info in infos if info.type.HasField("tensor_type")}


def _value_infos(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """The typed tensors of ``graph`` and of its subgraphs (If branches), outer ones first; inputs
    last, so an output that is also an input (a graph without nodes) keeps the input's shape."""
    infos = [*graph.output, *graph.value_info, *graph.input]
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else attr.graphs:
                infos += [i for i in _value_infos(sub) if i.name not in {o.name for o in infos}]
    return infos


def fill_shapes(graph: Graph) -> int:
    """Set the shapes ONNX shape inference now finds for values still without one."""
    unknown = [v for v in graph.values.values() if v.shape is None]
    if not unknown:
        return 0
    inferred = onnx.shape_inference.infer_shapes(to_onnx(graph), data_prop=True)
    found = {
        info.name: _tensor_type(info)[1] for info in [*inferred.graph.value_info, *inferred.graph.output]
    }
    filled = 0
    for value in unknown:
        shape = found.get(value.name)
        if shape is not None:
            value.shape = shape
            filled += 1
    return filled


def resolve_during_import(graph: Graph) -> None:
    """Fold what can be folded and infer shapes, without pruning constants later nodes need."""
    options = FoldConstantsOptions()
    filled = 1
    while filled:
        for node in list(graph.nodes):
            fold_node(graph, node, options)
        filled = fill_shapes(graph)


def settle_shapes(graph: Graph, file: str) -> None:
    """Alternate constant folding and shape inference until every shape is static."""
    options = FoldConstantsOptions()
    while True:
        fold_constants(graph, options)
        if all(v.shape is not None for v in graph.values.values()):
            return
        if fill_shapes(graph) == 0:
            node = next(n for n in graph.nodes if any(v.shape is None for v in n.outputs))
            value = next(v for v in node.outputs if v.shape is None)
            raise ShapeError(
                f"{file}: the shape of '{value.name}', output of node '{node.name}' ({node.op}), cannot be "
                "determined statically; fix the input shapes with --input-shape or simplify the model."
            )
