"""The printer is deterministic, and any change to a graph changes its printout."""

from __future__ import annotations

import numpy as np
from helpers import Builder

from edgec.ir import Graph, Op, format_graph


def _block(bias: float = 0.5) -> Graph:
    b = Builder("block")
    x = b.input("x", (1, 3, 4, 4))
    conv = b.conv(x, 2, activation=Op.CLIP, activation_attrs={"min": 0.0, "max": 6.0})
    shifted = b.node(
        Op.ADD, [conv, b.const("shift", np.full((1, 2, 1, 1), bias, np.float32))], name="shifted"
    )
    return b.output(
        b.node(Op.CAST, [shifted], dtype=np.float16, name="out", to=np.dtype(np.float16), saturate=1)
    )


def test_same_graph_built_twice_prints_the_same():
    assert format_graph(_block()) == format_graph(_block())


def test_node_lines_show_types_layout_attrs_and_uses():
    text = format_graph(_block())
    conv_line = next(line for line in text.splitlines() if "= Conv(" in line)
    assert conv_line.strip().startswith("%conv_0 : f32[1,2,4,4] NCHW = Conv(%x, %w, %b) {activation=Clip")
    assert "activation_attrs={max=6.0, min=0.0}" in conv_line
    assert conv_line.endswith("# 'conv_0', uses=1")
    assert "%out : f16[1,2,4,4] NCHW = Cast(%shifted) {saturate=1, to=float16}" in text
    assert text.startswith("graph 'block' (\n  %x : f32[1,3,4,4] NCHW,\n) -> (%out) {\n")


def test_changes_print_differently():
    reference = format_graph(_block())
    assert format_graph(_block(bias=0.25)) != reference

    graph = _block()
    graph.nodes[0].attrs["activation_attrs"] = {"min": 0.0, "max": 5.0}
    assert format_graph(graph) != reference

    graph = _block()
    graph.values["shifted"].shape = (1, 2, 4, 5)
    assert format_graph(graph) != reference

    graph = _block()
    graph.outputs.append(graph.values["shifted"])
    assert format_graph(graph) != reference


def test_constants_listed_only_when_used_and_only_on_request():
    graph = _block()
    graph.constant("unused", np.zeros(3, np.float32))
    text = format_graph(graph)
    assert "const %shift : f32[1,2,1,1] sha256:" in text and "%unused" not in text
    assert "const %" not in format_graph(graph, with_constants=False)
