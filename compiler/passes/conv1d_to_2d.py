"""``conv1d-to-2d``: a 1-D Conv ([N, C, L] input) becomes a 2-D one over [N, C, 1, L].

Unsqueeze(axis 2) -> Conv with kernel [O, I/group, 1, k], strides [1, s], dilations [1, d], pads
[0, p0, 0, p1] -> Squeeze(axis 2). For backends whose convolution kernels are 2-D only (TFLite:
CONV_2D, DEPTHWISE_CONV_2D); the layout pass then lays the 4-D tensors out like an image's.
Audio front ends (a VAD model's STFT and encoder) are 1-D convolutions.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Layout, Node, fresh_name
from edgec.ir.ops import Op
from edgec.passes.manager import NoOptions, register
from edgec.passes.rewrite import substitute


def _is_conv1d(node: Node) -> bool:
    x, weight = node.inputs[0], node.input(1)
    return (
        node.op is Op.CONV
        and x is not None
        and x.shape is not None
        and len(x.shape) == 3
        and weight is not None
        and weight.data is not None
    )


def _node_name(graph: Graph, base: str) -> str:
    names = {n.name for n in graph.nodes}
    return fresh_name(base, names.__contains__)


def _rewrite(graph: Graph, node: Node) -> None:
    x, weight, bias = node.inputs[0], node.input(1), node.input(2)
    assert x is not None and x.shape is not None and weight is not None and weight.data is not None
    out = node.output
    assert out.shape is not None
    axis = graph.constant(graph.unique_name(f"{node.name}/axis"), np.array([2], np.int64))
    n, c, length = x.shape
    wide = graph.add_value(graph.unique_name(f"{x.name}/2d"), x.dtype, (n, c, 1, length), Layout.NCHW)
    graph.add_node(Op.UNSQUEEZE, [x, axis], [wide], name=wide.name, before=node)
    kernel = graph.constant(graph.unique_name(f"{weight.name}/2d"), weight.data[:, :, None, :])
    attrs = dict(node.attrs)
    pads = list(attrs["pads"])
    attrs |= {
        "kernel_shape": [1, int(weight.data.shape[2])],
        "strides": [1, *attrs["strides"]],
        "dilations": [1, *attrs["dilations"]],
        "pads": [0, pads[0], 0, pads[1]],
    }
    n_out, c_out, l_out = out.shape
    conv_out = graph.add_value(
        graph.unique_name(f"{out.name}/2d"), out.dtype, (n_out, c_out, 1, l_out), Layout.NCHW
    )
    graph.add_node(
        Op.CONV,
        [wide, kernel, bias],
        [conv_out],
        attrs,
        name=_node_name(graph, f"{node.name}/2d"),
        before=node,
    )
    squeeze = graph.make_node(Op.SQUEEZE, [conv_out, axis], like=out, before=node)
    substitute(graph, out, squeeze.output, node_name=node.name)


@register("conv1d-to-2d", NoOptions)
def conv1d_to_2d(graph: Graph, options: NoOptions) -> int:
    """Rewrite every 1-D Conv with a constant kernel as a 2-D one between Unsqueeze and Squeeze."""
    nodes = [n for n in graph.nodes if _is_conv1d(n)]
    for node in nodes:
        _rewrite(graph, node)
    return len(nodes)
