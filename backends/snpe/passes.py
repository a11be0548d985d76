"""``snpe-ready``: the forms SNPE's converter takes, rewritten where the IR has others.

- Gemm converts only as FullyConnected: transA=0, transB=1, alpha=1, beta=1
  (REFERENCE B6). A constant B is transposed and scaled by alpha, a constant
  C scaled by beta, and a transposed A gets an explicit Transpose.
- Unsqueeze lowers to SNPE's ExpandDims, which the AIP and the V66 DSP do not
  run (B6 layers table); with static shapes it is a Reshape, which every
  runtime runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgec.plugin import (
    Graph,
    Node,
    NoOptions,
    Op,
    Rule,
    ShapeError,
    Value,
    apply_rules,
    register,
    substitute,
)

PASS_NAME = "snpe-ready"
BATCH_PASS = "snpe-batch-one"
FC_ATTRS = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}


@dataclass(frozen=True)
class _Gemm:
    node: Node


def _check_gemm(graph: Graph, node: Node) -> _Gemm | str:
    attrs = {key: node.attrs[key] for key in FC_ATTRS}
    if attrs == FC_ATTRS or (node.input(2) is None and {**attrs, "beta": 1.0} == FC_ATTRS):
        return f"Gemm '{node.name}' is already in FullyConnected form"
    if (attrs["transB"] != 1 or attrs["alpha"] != 1.0) and not node.inputs[1].is_constant:
        return f"the B input of Gemm '{node.name}' should be constant to be transposed or scaled"
    bias = node.input(2)
    if attrs["beta"] != 1.0 and bias is not None and not bias.is_constant:
        return f"the C input of Gemm '{node.name}' should be constant to be scaled by beta"
    return _Gemm(node)


def _transposed(graph: Graph, value: Value, before: Node) -> Value:
    if value.is_constant:
        return graph.constant(f"{value.name}_t", np.ascontiguousarray(value.data.T))
    shape = (value.shape[1], value.shape[0])
    out = graph.add_value(f"{value.name}_t", value.dtype, shape, value.layout)
    graph.add_node(Op.TRANSPOSE, [value], [out], {"perm": [1, 0]}, before=before)
    return out


def _to_fc(graph: Graph, match: _Gemm) -> None:
    node = match.node
    a, b, bias = node.inputs[0], node.inputs[1], node.input(2)
    if node.attrs["transA"]:
        a = _transposed(graph, a, node)
    if node.attrs["transB"] != 1 or node.attrs["alpha"] != 1.0:
        weights = b.data if node.attrs["transB"] else b.data.T
        b = graph.constant(
            f"{b.name}_fc", np.ascontiguousarray(weights * b.data.dtype.type(node.attrs["alpha"]))
        )
    if bias is not None and node.attrs["beta"] != 1.0:
        bias = graph.constant(f"{bias.name}_fc", bias.data * bias.data.dtype.type(node.attrs["beta"]))
    attrs = {**node.attrs, **FC_ATTRS}
    inputs = [a, b] if bias is None else [a, b, bias]
    fc = graph.make_node(Op.GEMM, inputs, like=node.output, attrs=attrs, before=node)
    substitute(graph, node.output, fc.output, node_name=node.name)


def _check_unsqueeze(graph: Graph, node: Node) -> Node | str:
    if 0 in node.output.shape:
        return f"Unsqueeze '{node.name}' has an empty output, which Reshape(allowzero=0) cannot express"
    return node


def _to_reshape(graph: Graph, node: Node) -> None:
    shape = graph.constant(f"{node.name}_shape", np.asarray(node.output.shape, dtype=np.int64))
    reshape = graph.make_node(
        Op.RESHAPE, [node.inputs[0], shape], like=node.output, attrs={"allowzero": 0}, before=node
    )
    substitute(graph, node.output, reshape.output, node_name=node.name)


RULES = (
    Rule("gemm-as-fully-connected", frozenset({Op.GEMM}), _check_gemm, _to_fc),
    Rule("unsqueeze-as-reshape", frozenset({Op.UNSQUEEZE}), _check_unsqueeze, _to_reshape),
)


@register(PASS_NAME, NoOptions)
def snpe_ready(graph: Graph, options: NoOptions) -> int:
    """Rewrite Gemm into SNPE's FullyConnected form and Unsqueeze into Reshape."""
    return apply_rules(graph, RULES)


@dataclass(frozen=True)
class BatchOptions:
    runtime: str = "the SNPE runtime"
    precision: str = "int8"


@register(BATCH_PASS, BatchOptions)
def snpe_batch_one(graph: Graph, options: BatchOptions) -> int:
    """Refuse inputs whose dim 0 is not 1: snpe-dlc-quantize, which quantized DLCs need, requires it."""
    for value in graph.inputs:
        if not value.shape or value.shape[0] != 1:
            raise ShapeError(
                f"input '{value.name}' has shape {list(value.shape or ())}: {options.runtime} at "
                f"{options.precision} needs a quantized DLC, and snpe-dlc-quantize requires dim 0 of every "
                f"input to be 1 (a batch of 1). Give --input-shape with a leading 1 if dim 0 is a batch; "
                f"otherwise build at fp32 (--runtime cpu or gpu) or fp16 (gpu or htp), whose float DLCs "
                f"do not go through the quantizer and take it."
            )
    return 0
