"""``load_model``: an ONNX file in, a verified IR graph with static shapes out.

read (ModelError) -> opset range and every unsupported op, reported at once
(UnsupportedOpError) -> external data confined to the model's directory
-> onnx.checker -> input shapes (UsageError, ShapeError) -> ONNX shape
inference -> import through the op table -> constant folding and shape
inference until every shape is static -> layouts -> verify
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from edgec.errors import ModelError, UnsupportedOpError
from edgec.frontend.importers import SUPPORTED_OPS, import_nodes
from edgec.frontend.importers_base import ImportState
from edgec.frontend.shapes import (
    fix_input_shapes,
    infer_types,
    real_inputs,
    resolve_during_import,
    settle_shapes,
)
from edgec.ir.graph import Graph, Layout
from edgec.ir.verify import verify
from edgec.passes import manager

MIN_OPSET, MAX_OPSET = 7, 21
_DEFAULT_DOMAINS = ("", "ai.onnx")
_MAX_LISTED_NODES = 5


def read_model(path: Path) -> onnx.ModelProto:
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
    return model


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


def _build(model: onnx.ModelProto, file: str, opset: int) -> Graph:
    types = infer_types(model, file)
    graph = Graph(model.graph.name or Path(file).stem)
    for tensor in model.graph.initializer:
        graph.constant(tensor.name, numpy_helper.to_array(tensor))
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
    verify(graph, shapes=manager.VERIFY_AFTER_EACH_PASS)
    return graph
