"""``unfuse-activation``: a fused activation a TFLite int8 kernel cannot fuse becomes its own node again.

TFLite's int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED fuse only ReLU,
ReLU6 and ReLU-N1-to-1 (REFERENCE C1); any other activation is a separate
TFLite op whose input is a tensor of its own, which needs its own
quantization range. Split back out of Conv/ConvTranspose/Gemm, the
activation's input is an IR value again, so calibration measures it. Kept
fused: Relu, Clip to [0, 6], [0, inf) or [-1, 1], and HardSigmoid (the
TFLite lowering folds six times its slope and offset into the weights,
leaving a RELU6 fused into the convolution and a multiply by 1/6, whose
ranges follow from the output's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgec.ir.graph import Graph, Node, Value
from edgec.ir.ops import FUSABLE, FUSABLE_ACTIVATIONS, Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import substitute

_NATIVE_CLIPS = ((0.0, 6.0), (0.0, float("inf")), (-1.0, 1.0))


def native(node: Node) -> bool:
    """Whether ``node``'s fused activation (if any) stays fused in a TFLite int8 kernel."""
    activation = node.attrs.get("activation")
    if activation in (None, Op.RELU, Op.HARD_SIGMOID):
        return True
    extra = node.attrs.get("activation_attrs") or {}
    bounds = (float(extra.get("min", float("-inf"))), float(extra.get("max", float("inf"))))
    return activation is Op.CLIP and bounds in _NATIVE_CLIPS


def _clip_bound(graph: Graph, base: str, extra: dict[str, Any], key: str) -> Value | None:
    bound = float(extra.get(key, float("inf") if key == "max" else float("-inf")))
    if np.isinf(bound):
        return None
    return graph.constant(graph.unique_name(f"{base}_{key}"), np.asarray(bound, np.float32))


def _unfuse(graph: Graph, node: Node) -> None:
    activation: Op = node.attrs["activation"]
    extra = node.attrs.get("activation_attrs") or {}
    attrs = {k: v for k, v in node.attrs.items() if k not in ("activation", "activation_attrs")}
    plain = graph.make_node(
        node.op, node.inputs, like=node.output, attrs=attrs, name=graph.unique_name(node.name), before=node
    )
    inputs: list[Value | None] = [plain.output]
    if activation is Op.CLIP:
        inputs += [_clip_bound(graph, node.name, extra, key) for key in ("min", "max")]
    act_attrs = {key: float(extra[key]) for key in FUSABLE_ACTIVATIONS[activation] if key in extra}
    applied = graph.make_node(
        activation,
        inputs,
        like=node.output,
        attrs=act_attrs,
        name=graph.unique_name(f"{node.name}_act"),
        before=node,
    )
    substitute(graph, node.output, applied.output)


@register("unfuse-activation", NoOptions)
def unfuse_activation(graph: Graph, options: NoOptions) -> int:
    """Split activations other than Relu/ReLU6/ReLU-N1-to-1/HardSigmoid out of Conv/Gemm."""
    nodes = [node for node in graph.nodes_of(*FUSABLE) if not native(node)]
    for node in nodes:
        _unfuse(graph, node)
    return len(nodes)
