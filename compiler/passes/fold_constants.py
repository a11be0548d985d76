"""fold-constants: replace what does not depend on the model's inputs by constants.

- ``Shape`` of a value with a static shape becomes a constant;
- a node whose inputs are all constants is evaluated by ONNX Runtime (the node
  alone, exported with ``to_onnx``) and replaced by its constant outputs.

Folded values keep their names (and quantization parameters), so graph
outputs and printouts stay recognizable. Results bigger than ``max_bytes`` stay computed at run time.
Shape-computing subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape)
fold in one sweep because nodes are visited in topological order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgec.errors import ModelError, ShapeError
from edgec.ir.graph import Graph, Layout, Node, Value
from edgec.ir.onnx_export import to_onnx
from edgec.ir.ops import Op
from edgec.passes.manager import register


@dataclass(frozen=True)
class FoldConstantsOptions:
    max_bytes: int = field(
        default=16 * 2**20,
        metadata={"help": "largest folded result in bytes; bigger results stay computed at run time"},
    )


def _static(value: Value) -> bool:
    return value.shape is not None and all(d >= 0 for d in value.shape)


def _shape_of(node: Node) -> list[np.ndarray] | None:
    source = node.inputs[0]
    if source is None or not _static(source):
        return None
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return [np.array(source.shape[start:end], dtype=np.int64)]


def _predicted_bytes(node: Node) -> int:
    """Bytes of the outputs when their shapes are known, else 0 (decided after evaluation)."""
    if not all(_static(v) for v in node.outputs):
        return 0
    return sum(v.nbytes for v in node.outputs)


def _evaluate(node: Node) -> list[np.ndarray]:
    """Run one node on its constant inputs with ONNX Runtime."""
    # Imported here: loading ONNX Runtime is the cost of folding a node numpy cannot, not of
    # importing the passes or the frontend (tests/test_layers.py).
    from edgec.runtime import ORT_ERRORS, run, session

    alone = Graph(f"fold_{node.name}")
    feeds: dict[str, np.ndarray] = {}
    inputs: dict[int, Value] = {}
    for value in node.inputs:
        if value is not None and value.data is not None and id(value) not in inputs:
            inputs[id(value)] = alone.add_input(value.name, value.dtype, value.data.shape, Layout.NONE)
            feeds[inputs[id(value)].name] = value.data
    outputs = [alone.add_value(v.name, v.dtype, None) for v in node.outputs]
    copies = [inputs[id(v)] if v is not None else None for v in node.inputs]
    alone.add_node(node.op, copies, outputs, node.attrs, name=node.name)
    alone.outputs = outputs
    try:
        results = run(session(to_onnx(alone, value_info=False), threads=1), feeds)
    except ORT_ERRORS as exc:
        raise ModelError(
            f"node '{node.name}' ({node.op}) cannot be evaluated on its constant inputs: "
            f"{' '.join(str(exc).split())}. "
            "The model is inconsistent; re-export it."
        ) from exc
    return [results[v.name] for v in outputs]


def _foldable(node: Node) -> bool:
    present = [v for v in node.inputs if v is not None]
    return bool(present) and all(v.is_constant for v in present)


def _replace(graph: Graph, node: Node, arrays: list[np.ndarray]) -> None:
    """Swap the node for constants that take over its outputs' names."""
    for value, array in zip(node.outputs, arrays, strict=True):
        if array.dtype != value.dtype or (_static(value) and tuple(array.shape) != value.shape):
            raise ShapeError(
                f"node '{node.name}' ({node.op}) computes {array.dtype}{list(array.shape)} for "
                f"'{value.name}', but the graph says {value.dtype}{list(value.shape or ())}; "
                "the model is inconsistent."
            )
    temps = []
    for value, array in zip(node.outputs, arrays, strict=True):
        temp = graph.constant(value.name, array)
        graph.replace_all_uses(value, temp)
        temps.append(temp)
    originals = [(v.name, v.quant) for v in node.outputs]
    graph.remove_node(node)
    for (name, quant), temp in zip(originals, temps, strict=True):
        final = graph.constant(name, temp.data)
        final.quant = quant
        graph.replace_all_uses(temp, final)
        graph.remove_value(temp)


def fold_node(graph: Graph, node: Node, options: FoldConstantsOptions) -> bool:
    """Fold ``node`` if its outputs are known without the model's inputs; True if folded."""
    if node.op is Op.SHAPE:
        arrays = _shape_of(node)
    elif _foldable(node) and _predicted_bytes(node) <= options.max_bytes:
        arrays = _evaluate(node)
    else:
        arrays = None
    if arrays is None or sum(a.nbytes for a in arrays) > options.max_bytes:
        return False
    _replace(graph, node, arrays)
    return True


@register("fold-constants", FoldConstantsOptions)
def fold_constants(graph: Graph, options: FoldConstantsOptions) -> int:
    """Replace Shape of static shapes, and nodes whose inputs are all constants, by constants."""
    folded = sum(fold_node(graph, node, options) for node in list(graph.nodes))
    graph.prune_unused_constants()
    return folded
