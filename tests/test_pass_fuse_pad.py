"""fuse-pad: zero spatial Pad before Conv becomes the Conv's pads."""

from __future__ import annotations

import numpy as np
from helpers import Builder, ops, run_and_compare

from edgec.ir import Op
from edgec.passes import fuse_pad
from edgec.passes.rewrite import explain

RULE = fuse_pad.RULES[0]


def _pad_conv(pads, value=0.0, mode="constant", conv_pads=(1, 1, 1, 1)):
    """Pad -> Conv(3x3, stride 1) on a 1x3x8x8 input."""
    b = Builder()
    x = b.input("x", (1, 3, 8, 8))
    amounts = b.const("pads", np.array(pads, np.int64))
    fill = b.const("fill", np.float32(value)) if mode == "constant" else None
    padded_shape = tuple(d + pads[i] + pads[i + 4] for i, d in enumerate(x.shape))
    padded = b.node(Op.PAD, [x, amounts, fill], shape=padded_shape, name="padded", mode=mode)
    h, w = (padded_shape[2 + i] + conv_pads[i] + conv_pads[2 + i] - 2 for i in range(2))
    conv_attrs = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": list(conv_pads), "dilations": [1, 1]}
    inputs = [padded, b.weight("w", 4, padded_shape[1], 3, 3), b.weight("b", 4)]
    out = b.node(Op.CONV, inputs, shape=(1, 4, h, w), name="conv", group=1, auto_pad="NOTSET", **conv_attrs)
    return b.output(out)


def test_asymmetric_same_padding_folds_into_conv():
    graph = _pad_conv([0, 0, 0, 0, 0, 0, 1, 1], conv_pads=(0, 0, 0, 0))
    assert run_and_compare(graph, "fuse-pad")[0].rewrites == 1
    assert ops(graph) == ["Conv"]
    assert graph.nodes[0].attrs["pads"] == [0, 0, 1, 1]


def test_pads_add_to_the_convs_own():
    graph = _pad_conv([0, 0, 2, 1, 0, 0, 0, 3])
    run_and_compare(graph, "fuse-pad")
    assert graph.nodes[0].attrs["pads"] == [3, 2, 1, 4]


def test_nonzero_value_channel_pad_and_reflect_stay():
    cases = {
        "pads with a value other than zero": _pad_conv([0, 0, 1, 1, 0, 0, 1, 1], value=1.0),
        "pads the batch or channel dims": _pad_conv([0, 1, 0, 0, 0, 0, 0, 0]),
        "not in constant mode": _pad_conv([0, 0, 1, 1, 0, 0, 1, 1], mode="reflect"),
    }
    for reason, graph in cases.items():
        assert run_and_compare(graph, "fuse-pad")[0].rewrites == 0
        assert ops(graph) == ["Pad", "Conv"]
        assert reason in next(iter(explain(graph, RULE).values()))
