"""``load_model``: an ONNX file in, a verified IR graph with static shapes out.

read (ModelError) -> opset range and every unsupported op, reported at once
(UnsupportedOpError) -> external data confined to the model's directory
-> onnx.checker -> input shapes (UsageError, ShapeError) -> ONNX shape
inference -> import through the op table -> constant folding and shape
inference until every shape is static -> layouts -> verify
"""

from __future__ import annotations

import contextlib
import math
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PureWindowsPath

import numpy as np
import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from onnx import helper, numpy_helper
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from edgec.errors import ModelError, ShapeError, UnsupportedOpError
from edgec.frontend.importers import SUPPORTED_OPS, import_nodes
from edgec.frontend.importers_base import ImportState, TensorType
from edgec.frontend.shapes import (
    fix_input_shapes,
    infer_types,
    real_inputs,
    resolve_during_import,
    settle_shapes,
)
from edgec.ir.graph import Graph, Layout
from edgec.ir.verify import verify
from edgec.limits import element_count, tensor_budget, too_big
from edgec.passes.instruments import verifying

MIN_OPSET, MAX_OPSET = 7, 21
_DEFAULT_DOMAINS = ("", "ai.onnx")
_MAX_LISTED_NODES = 5
_DTYPES = frozenset(helper.get_all_tensor_dtypes())


def _numeric(dtype: np.dtype) -> bool:
    """numpy's own float, integer and bool types (not complex, not ml_dtypes' float8 and bfloat16)."""
    return dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def _type_name(model: onnx.ModelProto, name: str) -> str:
    infos = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    elem = next((i.type.tensor_type.elem_type for i in infos if i.name == name), None)
    return helper.tensor_dtype_to_string(elem) if elem in _DTYPES else "an unknown ONNX type"


def _check_regular(path: Path) -> None:
    """Refuse before reading anything that is not a regular file (a directory, /dev/zero, a FIFO)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ModelError(f"cannot read the model {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise ModelError(f"the model {path} is {kind}, not a regular file; give the path of an .onnx file.")


def read_model(path: Path) -> onnx.ModelProto:
    _check_regular(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model {path}: {exc.strerror or exc}.") from exc
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise ModelError(
            f"{path.name} is not a valid ONNX file: its protobuf cannot be parsed ({exc}). "
            "The file is truncated or corrupt; download or export it again."
        ) from exc
    if not model.HasField("graph"):
        raise ModelError(f"{path.name} is not a valid ONNX file: it holds no graph.")
    invalid = _invalid_text(model)
    if invalid is not None:
        raise ModelError(
            f"{path.name} is not a valid ONNX file: a name or text field is not UTF-8 ({invalid[:40]!r}). "
            "The file is corrupt; download or export it again."
        )
    return model


def _invalid_text(message: Message) -> bytes | None:
    """The first string field that is not UTF-8 (protobuf hands those over as bytes), or None."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in [value] if isinstance(value, Message) else value:
                found = _invalid_text(item)
                if found is not None:
                    return found
        elif field.type == FieldDescriptor.TYPE_STRING:
            for item in [value] if isinstance(value, (str, bytes)) else value:
                if isinstance(item, bytes):
                    return item
    return None


def default_opset(model: onnx.ModelProto, file: str) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    opset = next((versions[d] for d in _DEFAULT_DOMAINS if d in versions), None)
    if opset is None:
        raise ModelError(f"{file} declares no opset for the default ONNX domain (ai.onnx).")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedOpError(
            f"{file} uses ONNX opset {opset}; edgec supports opsets {MIN_OPSET} to {MAX_OPSET}. "
            "Convert the model (onnx.version_converter.convert_version) or export it at a supported opset."
        )
    return opset


def _describe(op: str, domain: str, names: list[str], opset: int) -> str:
    listed = ", ".join(f"'{n}'" for n in names[:_MAX_LISTED_NODES])
    more = f" and {len(names) - _MAX_LISTED_NODES} more" if len(names) > _MAX_LISTED_NODES else ""
    where = f"domain '{domain}', " if domain not in _DEFAULT_DOMAINS else ""
    return f"{op} ({where}node{'s' if len(names) > 1 else ''} {listed}{more}, opset {opset})"


def all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """The nodes of ``graph`` and, after each, those of its subgraphs (If branches)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else attr.graphs:
                yield from all_nodes(sub)


def report_unsupported(model: onnx.ModelProto, file: str) -> None:
    """One UnsupportedOpError naming every unsupported op type, its nodes and opset."""
    versions = {o.domain: o.version for o in model.opset_import}
    found: dict[tuple[str, str], list[str]] = {}
    for index, node in enumerate(all_nodes(model.graph)):
        if node.domain in _DEFAULT_DOMAINS and node.op_type in SUPPORTED_OPS:
            continue
        label = node.name or (node.output[0] if node.output else f"#{index}")
        found.setdefault((node.domain, node.op_type), []).append(label)
    if not found:
        return
    parts = [
        _describe(op, domain, names, versions.get(domain, versions.get("ai.onnx", 0)))
        for (domain, op), names in sorted(found.items(), key=lambda item: (item[0][1], item[0][0]))
    ]
    raise UnsupportedOpError(
        f"{file} uses {len(found)} op{'s' if len(found) > 1 else ''} edgec does not support: "
        f"{', '.join(parts)}. Replace them before export or run them outside the compiled model."
    )


def _tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            tensors.extend([attr.t] if attr.HasField("t") else attr.tensors)
    return tensors


def _external_file(tensor: onnx.TensorProto, path: Path) -> Path:
    """The file holding ``tensor``'s data, which must lie inside the model's directory."""
    location = ExternalDataInfo(tensor).location
    base = path.parent.resolve()
    where = f"{path.name}: tensor '{tensor.name}' keeps its data in '{location}'"
    if not location or Path(location).is_absolute() or PureWindowsPath(location).is_absolute():
        raise ModelError(f"{where}, which is not a relative path; external data must lie in {base}.")
    if ".." in Path(location).parts or ".." in PureWindowsPath(location).parts:
        raise ModelError(f"{where}, which escapes the model's directory {base}; refusing to read it.")
    target = (base / location).resolve()
    if not target.is_relative_to(base):
        raise ModelError(f"{where}, which resolves to {target}, outside the model's directory {base}.")
    if not target.is_file():
        raise ModelError(f"{where}, which does not exist; copy it next to the model.")
    return target


def load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read external tensor data into the model. Symlinks are followed only when they stay inside
    the model's directory (onnx's own loader refuses every symlink)."""
    for tensor in _tensors(model):
        if not uses_external_data(tensor):
            continue
        target = _external_file(tensor, path)
        info = ExternalDataInfo(tensor)
        offset, size = info.offset or 0, target.stat().st_size
        end = offset + info.length if info.length else size
        if end > size:
            raise ModelError(
                f"{path.name}: tensor '{tensor.name}' needs bytes up to {end} of '{info.location}', "
                f"which has only {size}; the data file is truncated."
            )
        if end - offset > tensor_budget():
            reason = too_big([end - offset], np.uint8, tensor_budget())
            raise ModelError(f"{path.name}: tensor '{tensor.name}' in '{info.location}': {reason}.")
        with target.open("rb") as data:
            data.seek(offset)
            tensor.raw_data = data.read(end - offset)
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]


def check_model(model: onnx.ModelProto, file: str) -> None:
    if model.graph.sparse_initializer:
        raise ModelError(f"{file} holds sparse initializers, which edgec does not read; densify them.")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(
            f"{file} is not valid ONNX: {str(exc).strip().splitlines()[0].rstrip('.')}."
        ) from exc


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {name: node for node in model.graph.node for name in node.output if name}


def check_sizes(model: onnx.ModelProto, file: str, types: Mapping[str, TensorType]) -> None:
    """Every tensor has a numeric or bool type (else exit 4) and, where its shape is known, fits in
    memory (else exit 5), naming the tensor and its node."""
    budget = tensor_budget()
    producers = _producers(model)
    for name, (dtype, shape) in types.items():
        node = producers.get(name)
        where = f", output of {node.op_type} node '{node.name or name}'" if node is not None else ""
        if dtype is not None and not _numeric(dtype):
            raise UnsupportedOpError(
                f"{file}: tensor '{name}'{where} has type {dtype} ({_type_name(model, name)}); edgec handles "
                "float, integer and bool tensors only."
            )
        reason = too_big(shape, dtype, budget) if shape is not None else None
        if reason is None:
            continue
        raise ShapeError(
            f"{file}: tensor '{name}'{where}: {reason}. Use smaller input dims or fix the model."
        )


# Ops whose output size a small constant input sets (input index): ONNX's shape inference, which
# propagates constant data, would materialize an output as large as that constant asks for.
_SIZE_INPUTS = {"ConstantOfShape": 0, "Expand": 1, "Tile": 1}


def _small_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Initializers and Constant node values of at most 64 elements, by name (unreadable ones skipped)."""
    tensors = list(model.graph.initializer)
    names = [t.name for t in tensors]
    for node in model.graph.node:
        value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
        if node.op_type == "Constant" and value is not None and node.output:
            tensors.append(value)
            names.append(node.output[0])
    found = {}
    for name, tensor in zip(names, tensors, strict=True):
        if element_count(tensor.dims) <= 64 and not uses_external_data(tensor):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                found[name] = numpy_helper.to_array(tensor)
    return found


def _requested_elements(node: onnx.NodeProto, constants: Mapping[str, np.ndarray]) -> int | None:
    """How many elements ``node`` would make according to its constant size inputs, where known."""
    if node.op_type == "Range" and len(node.input) == 3:
        start, limit, delta = (constants.get(name) for name in node.input)
        if any(a is None or a.size != 1 for a in (start, limit, delta)) or float(delta.item()) == 0:
            return None
        span = (float(limit.item()) - float(start.item())) / float(delta.item())
        return int(min(max(math.ceil(span), 0), 2**63)) if math.isfinite(span) else None
    index = _SIZE_INPUTS.get(node.op_type)
    dims = constants.get(node.input[index]) if index is not None and len(node.input) > index else None
    if dims is None or dims.ndim != 1 or not np.issubdtype(dims.dtype, np.integer):
        return None
    return element_count([max(int(d), 0) for d in dims])


def check_constant_sizes(model: onnx.ModelProto, file: str) -> None:
    """Refuse, before shape inference, a node whose constant inputs ask for more elements than memory
    holds (ConstantOfShape, Expand, Tile, Range): exit 5 naming the node."""
    constants = _small_constants(model)
    budget = tensor_budget()
    for node in model.graph.node:
        count = _requested_elements(node, constants)
        reason = too_big([count], np.float32, budget) if count is not None else None
        if reason is not None:
            label = node.name or (node.output[0] if node.output else "#")
            raise ShapeError(
                f"{file}: {node.op_type} node '{label}' asks for an output of {reason}. Fix the model."
            )


def _initializer(tensor: onnx.TensorProto, file: str, budget: int) -> np.ndarray:
    """The initializer's data; ModelError (exit 3) when it is too big or inconsistent."""
    dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type) if tensor.data_type in _DTYPES else None
    reason = too_big(tensor.dims, dtype, budget)
    if reason is not None:
        raise ModelError(f"{file}: initializer '{tensor.name}': {reason}.")
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(
            f"{file}: initializer '{tensor.name}' cannot be read ({exc}); its data does not match its "
            f"type and dims {list(tensor.dims)}. Export the model again."
        ) from exc


def _build(model: onnx.ModelProto, file: str, opset: int) -> Graph:
    check_constant_sizes(model, file)
    types = infer_types(model, file)
    check_sizes(model, file, types)
    graph = Graph(model.graph.name or Path(file).stem)
    budget = tensor_budget()
    for tensor in model.graph.initializer:
        graph.constant(tensor.name, _initializer(tensor, file, budget))
    for info in real_inputs(model):
        dtype, shape = types[info.name]
        graph.add_input(info.name, dtype, shape, Layout.NONE)
    nodes = list(all_nodes(model.graph))
    names = {n for node in nodes for n in [*node.input, *node.output] if n}
    used = {n for node in nodes for n in node.input} | {o.name for o in model.graph.output}
    used |= {o.name for node in nodes for a in node.attribute if a.HasField("g") for o in a.g.output}
    state = ImportState(
        graph, file, types, names | set(graph.values), used, lambda: resolve_during_import(graph)
    )
    import_nodes(state, model.graph.node, opset)
    graph.outputs = [graph.values[o.name] for o in model.graph.output]
    return graph


def _assign_layouts(graph: Graph) -> None:
    """Every 4-D activation is NCHW (the ONNX convention); everything else has no layout."""
    for value in graph.values.values():
        four_d = not value.is_constant and value.shape is not None and len(value.shape) == 4
        value.layout = Layout.NCHW if four_d else Layout.NONE


def load_model(
    path: str | Path,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    default_batch: int | None = 1,
) -> Graph:
    """Load an ONNX model into the IR: canonical ops, static shapes, constants folded, verified.

    The structure is always verified; the shapes against ONNX's op rules only
    where passes are verified too (the test suite), as that check exports
    and re-infers the whole graph.
    """
    path = Path(path)
    file = path.name
    model = read_model(path)
    opset = default_opset(model, file)
    report_unsupported(model, file)
    load_external_data(model, path)
    check_model(model, file)
    fix_input_shapes(model, file, input_shapes, default_batch)
    graph = _build(model, file, opset)
    settle_shapes(graph, file)
    _assign_layouts(graph)
    graph.prune_unused_constants()
    verify(graph, shapes=verifying())
    return graph
