"""The op table: ONNX op type -> {first opset of a form: importer}.

An op's importer is the form with the highest first opset not above the
model's opset, so ``"Clip": {7: clip_v6, 11: clip_v11}`` imports a Clip of
an opset-9 model with ``clip_v6``.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx

from edgec.frontend import importers_control, importers_math, importers_nn, importers_resize, importers_tensor
from edgec.frontend.importers_base import ImportFn, ImportState, NodeImport, Table

TABLE: Table = {
    **importers_control.TABLE,
    "If": {7: lambda ctx: importers_control.if_(ctx, _import_branch)},
    **importers_math.TABLE,
    **importers_nn.TABLE,
    **importers_resize.TABLE,
    **importers_tensor.TABLE,
}

SUPPORTED_OPS: frozenset[str] = frozenset(TABLE)


def select(ctx: NodeImport) -> ImportFn:
    forms = TABLE[ctx.proto.op_type]
    usable = [since for since in forms if since <= ctx.opset]
    if not usable:
        raise ctx.unsupported(f"exists only from opset {min(forms)} on")
    return forms[max(usable)]


def _import_branch(ctx: NodeImport, nodes: Iterable[onnx.NodeProto]) -> None:
    import_nodes(ctx.state, nodes, ctx.opset)


def import_nodes(state: ImportState, nodes: Iterable[onnx.NodeProto], opset: int) -> None:
    """Import ``nodes`` (in topological order) into ``state.graph``."""
    for proto in nodes:
        ctx = NodeImport(state, proto, opset)
        select(ctx)(ctx)
