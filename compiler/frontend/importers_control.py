"""Importers for control flow whose decision the input shapes settle: If, and the ops its
conditions are made of (Size, Not).

Exporters wrap shape-dependent choices in ``If`` (a VAD model picks its branch from the sample
rate's or the state's shape). With static input shapes the condition folds to a constant: the
taken branch's nodes are imported in the If's place (each branch output bound to the If's output
by an Identity, which cleanup removes) and the other branch is dropped. A condition that depends
on input data cannot be decided at build time, and the node is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import onnx

from edgec.frontend.importers_base import NodeImport, Table
from edgec.ir.ops import Op

ImportNodes = Callable[[NodeImport, Iterable[onnx.NodeProto]], None]


def if_(ctx: NodeImport, import_nodes: ImportNodes) -> None:
    condition = ctx.require_const(0, "condition: edgec takes the branch a constant condition picks")
    branch = ctx.attrs["then_branch" if bool(np.asarray(condition).reshape(-1)[0]) else "else_branch"]
    import_nodes(ctx, branch.node)
    graph = ctx.state.graph
    for name, result in zip(ctx.proto.output, branch.output, strict=True):
        if not name:
            continue
        source = ctx.state.current(graph.values[result.name])
        out = graph.add_value(name, source.dtype, source.shape)
        graph.add_node(Op.IDENTITY, [source], [out], {}, name=ctx.state.node_name(f"{ctx.name}/{name}"))


def size(ctx: NodeImport) -> None:
    """The element count of a statically shaped input, as a constant."""
    ctx.state.graph.constant(ctx.proto.output[0], np.array(int(np.prod(ctx.shape(0))), np.int64))


def not_(ctx: NodeImport) -> None:
    ctx.emit(Op.EQUAL, [ctx.value(0), ctx.const("false", np.array(False))])


TABLE: Table = {
    "Not": {7: not_},
    "Size": {7: size},
}
