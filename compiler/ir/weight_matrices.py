"""The layers compression works on: Conv, Gemm and MatMul nodes with a constant weight.

Every such layer is seen as a weight matrix with one row per output channel
and, for a Conv, one column per (input channel of its group, kernel
position), in the order of ``W.reshape(M, -1)``. Row ``m`` of a grouped Conv
belongs to group ``m // (M / group)``. ``layer_patches`` turns a layer's
input activation into the matching columns (im2col), so that the layer's
output before its bias and activation is ``patches @ matrix.T`` per group.
"""

from __future__ import annotations

import numpy as np

from edgec.ir.graph import Graph, Node
from edgec.ir.ops import Op

WEIGHTED_OPS = (Op.CONV, Op.GEMM, Op.MATMUL)


def is_weighted_layer(node: Node) -> bool:
    """Conv (explicit pads), Gemm (A not transposed) or 2-D MatMul with a constant float weight."""
    weight = node.const_input(1)
    if node.op not in WEIGHTED_OPS or weight is None or not np.issubdtype(weight.dtype, np.floating):
        return False
    if node.inputs[0] is None or node.inputs[0].is_constant:
        return False
    if node.op is Op.CONV:
        return node.attrs.get("auto_pad", "NOTSET") == "NOTSET"
    if node.op is Op.GEMM:
        return not node.attrs["transA"]
    return weight.ndim == 2 and node.inputs[0].rank == 2


def weighted_layers(graph: Graph) -> list[Node]:
    return [node for node in graph.nodes if is_weighted_layer(node)]


def groups(node: Node) -> int:
    return int(node.attrs["group"]) if node.op is Op.CONV else 1


def weight_matrix(node: Node) -> np.ndarray:
    """The weight as [output channels, inputs per group] (Gemm's alpha included)."""
    weight = node.const_input(1)
    assert weight is not None
    if node.op is Op.CONV:
        return weight.reshape(weight.shape[0], -1)
    if node.op is Op.GEMM:
        matrix = weight if node.attrs["transB"] else weight.T
        return matrix * np.asarray(node.attrs["alpha"], dtype=weight.dtype)
    return weight.T


def set_weight_matrix(graph: Graph, node: Node, matrix: np.ndarray) -> None:
    """Store ``matrix`` (as ``weight_matrix`` returns it) as the node's weight."""
    old = node.inputs[1]
    assert old is not None and old.data is not None
    matrix = np.asarray(matrix, dtype=old.data.dtype)
    if node.op is Op.CONV:
        data = matrix.reshape(matrix.shape[0], *old.data.shape[1:])
    elif node.op is Op.GEMM:
        matrix = matrix / np.asarray(node.attrs["alpha"], dtype=matrix.dtype)
        data = matrix if node.attrs["transB"] else matrix.T
    else:
        data = matrix.T
    replace_constant(graph, node, 1, np.ascontiguousarray(data))


def bias_vector(node: Node) -> np.ndarray | None:
    """One bias per output channel (Gemm's beta included), or None."""
    bias = node.const_input(2) if node.op is not Op.MATMUL else None
    if bias is None:
        return None
    channels = node.output.shape[1]
    scale = float(node.attrs["beta"]) if node.op is Op.GEMM else 1.0
    if bias.size not in (1, channels) or (bias.ndim == 2 and bias.shape[0] != 1):
        return None
    return np.broadcast_to(bias.reshape(-1), (channels,)) * scale


def can_have_bias(node: Node) -> bool:
    """MatMul has none; a Gemm's C must be per output channel for a refit to change it."""
    if node.op is Op.MATMUL:
        return False
    return node.input(2) is None or bias_vector(node) is not None


def set_bias_vector(graph: Graph, node: Node, bias: np.ndarray) -> None:
    dtype = node.const_input(1).dtype
    if node.op is Op.GEMM:
        node.attrs["beta"] = 1.0
    data = np.asarray(bias, dtype=dtype).reshape(-1)
    if node.input(2) is None:
        while len(node.inputs) < 3:
            node.inputs.append(None)
        graph.set_input(node, 2, graph.constant(f"{node.name}_bias", data))
    else:
        replace_constant(graph, node, 2, data)


def replace_constant(graph: Graph, node: Node, index: int, data: np.ndarray) -> None:
    """Point input ``index`` of ``node`` at a new constant; the old one goes if nothing else uses it."""
    old = node.inputs[index]
    assert old is not None
    graph.set_input(node, index, graph.constant(old.name, data))
    if not old.uses and old not in graph.outputs:
        graph.remove_value(old)


def layer_patches(node: Node, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """The layer's input as columns: [groups, positions, inputs per group].

    Positions run over (batch, output pixels) for a Conv and over the batch
    for Gemm/MatMul; ``rows`` picks a subset of them (flat indices).
    """
    if node.op is not Op.CONV:
        flat = x.reshape(x.shape[0], -1)
        return (flat if rows is None else flat[rows])[None]
    (kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right), (out_h, out_w) = _conv_2d(node)
    if x.ndim == 3:  # a 1-D convolution reads [N, C, L] as [N, C, 1, L]
        x = x[:, :, None, :]
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), (2, 3))
    windows = windows[:, :, : sh * out_h : sh, : sw * out_w : sw, ::dh, ::dw]
    if rows is None:
        rows = np.arange(x.shape[0] * out_h * out_w)
    n, rest = np.divmod(rows, out_h * out_w)
    h, w = np.divmod(rest, out_w)
    picked = windows[n, :, h, w]  # [positions, C, kh, kw]
    g = groups(node)
    per_group = picked.reshape(len(rows), g, -1)
    return per_group.transpose(1, 0, 2)


def _conv_2d(node: Node) -> tuple[tuple[int, int], ...]:
    """Kernel, strides, dilations, pads and output size of a 1-D or 2-D Conv, a 1-D one as 1 x L."""
    kernel, strides, dilations = node.attrs["kernel_shape"], node.attrs["strides"], node.attrs["dilations"]
    pads, out = node.attrs["pads"], tuple(node.output.shape[2:])
    if len(kernel) == 2:
        return tuple(kernel), tuple(strides), tuple(dilations), tuple(pads), out
    if len(kernel) == 1:
        return (1, kernel[0]), (1, strides[0]), (1, dilations[0]), (0, pads[0], 0, pads[1]), (1, out[0])
    raise ValueError(f"Conv '{node.name}': only 1-D and 2-D convolutions have patches")


def positions(node: Node, batch: int) -> int:
    """How many rows ``layer_patches`` has for an input of ``batch`` items."""
    if node.op is Op.CONV:
        return batch * int(np.prod(node.output.shape[2:]))
    return batch


def layer_outputs(node: Node, patches: np.ndarray, matrix: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Pre-activation outputs [positions, output channels] from grouped patches."""
    g = patches.shape[0]
    per_group = matrix.reshape(g, -1, matrix.shape[1])
    out = np.concatenate([patches[i] @ per_group[i].T for i in range(g)], axis=1)
    return out + bias if bias is not None else out
