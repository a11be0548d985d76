"""Graph editing keeps producers and uses right, and refuses edits that would break the graph."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Builder, ops

from edgec.errors import VerificationError
from edgec.ir import Graph, Layout, Op, verify


def _uses(value):
    return [(node.name, index) for node, index in value.uses]


def test_add_node_records_producer_and_every_use():
    b = Builder()
    x = b.input("x", (2, 3))
    square = b.node(Op.MUL, [x, x], name="square")
    b.node(Op.RELU, [square], name="relu")

    assert square.producer.name == "square"
    assert _uses(x) == [("square", 0), ("square", 1)]
    assert x.users() == [square.producer]
    assert _uses(square) == [("relu", 0)]


def test_add_node_refuses_a_value_that_already_has_a_producer():
    b = Builder()
    x = b.input("x", (2,))
    y = b.node(Op.RELU, [x], name="y")
    with pytest.raises(VerificationError, match="already has producer 'y'"):
        b.graph.add_node(Op.NEG, [x], [y])


def test_set_input_moves_the_use():
    b = Builder()
    x, z = b.input("x", (2,)), b.input("z", (2,))
    y = b.node(Op.RELU, [x], name="y")
    b.graph.set_input(y.producer, 0, z)

    assert x.uses == [] and _uses(z) == [("y", 0)]


def test_replace_all_uses_moves_uses_and_graph_outputs():
    b = Builder()
    x = b.input("x", (2,))
    old = b.node(Op.RELU, [x], name="old")
    new = b.node(Op.SIGMOID, [x], name="new")
    user = b.node(Op.NEG, [old], name="user")
    graph = b.output(old, user)

    graph.replace_all_uses(old, new)

    assert old.uses == [] and _uses(new) == [("user", 0)]
    assert [v.name for v in graph.outputs] == ["new", "user"]


def test_remove_node_of_a_used_node_raises_and_changes_nothing():
    b = Builder()
    x = b.input("x", (2,))
    used = b.node(Op.RELU, [x], name="used")
    graph = b.output(b.node(Op.NEG, [used], name="out"))

    with pytest.raises(VerificationError, match="used by 'out'"):
        graph.remove_node(used.producer)
    with pytest.raises(VerificationError, match="graph output"):
        graph.remove_node(graph.outputs[0].producer)
    assert ops(graph) == ["Relu", "Neg"] and _uses(x) == [("used", 0)]
    verify(graph)


def test_remove_node_drops_its_outputs_and_its_uses():
    b = Builder()
    x = b.input("x", (2,))
    dead = b.node(Op.ADD, [x, x], name="dead")
    graph = b.output(x)

    graph.remove_node(dead.producer)

    assert graph.nodes == () and "dead" not in graph.values and x.uses == []
    assert dead.producer is None


def test_bypass_redirects_then_removes():
    b = Builder()
    x = b.input("x", (2,))
    identity = b.node(Op.IDENTITY, [x], name="id")
    out = b.node(Op.NEG, [identity], name="out")
    graph = b.output(out)

    graph.bypass(identity.producer, x)

    assert ops(graph) == ["Neg"] and out.producer.inputs == [x] and "id" not in graph.values
    verify(graph)


def test_rename_value_moves_the_name_and_refuses_a_taken_one():
    b = Builder()
    x = b.input("x", (2,))
    out = b.node(Op.NEG, [x], name="out")
    graph = b.output(out)

    graph.rename_value(out, "renamed")

    assert graph.values["renamed"] is out and "out" not in graph.values and graph.outputs == [out]
    with pytest.raises(VerificationError, match="'x' is already taken"):
        graph.rename_value(out, "x")
    assert out.name == "renamed"
    verify(graph)


def test_make_node_copies_dtype_shape_layout_and_inserts_before():
    b = Builder()
    x = b.input("x", (1, 2, 3, 3))
    last = b.node(Op.RELU, [x], name="last")
    node = b.graph.make_node(Op.SIGMOID, [x], like=last, before=last.producer)

    assert b.graph.nodes[0] is node
    assert (node.output.dtype, node.output.shape, node.output.layout) == (
        np.float32,
        (1, 2, 3, 3),
        Layout.NCHW,
    )


def test_prune_unused_constants_keeps_used_ones():
    b = Builder()
    x = b.input("x", (2,))
    used = b.const("used", [1.0, 2.0])
    b.const("unused", [3.0])
    graph = b.output(b.node(Op.ADD, [x, used], name="y"))

    assert graph.prune_unused_constants() == 1
    assert "used" in graph.values and "unused" not in graph.values


def test_unique_name_and_nodes_of():
    b = Builder()
    x = b.input("x", (2,))
    b.node(Op.RELU, [x], name="y")
    b.node(Op.RELU, [x], name="y")
    graph = b.graph

    assert graph.unique_name("fresh") == "fresh"
    assert graph.unique_name("y") not in graph.values
    assert [n.name for n in graph.nodes_of(Op.RELU)] == ["y", graph.nodes[1].name]
    assert graph.nodes[1].name != "y"


def test_toposort_repairs_order_and_detects_cycles():
    b = Builder()
    x = b.input("x", (2,))
    a = b.node(Op.RELU, [x], name="a")
    c = b.node(Op.NEG, [a], name="c")
    graph = b.output(c)
    graph.nodes = graph.nodes[::-1]

    graph.toposort()
    assert [n.name for n in graph.nodes] == ["a", "c"]

    graph.set_input(a.producer, 0, c)
    with pytest.raises(VerificationError, match="cycle"):
        graph.toposort()


def test_remove_value_refuses_a_value_in_use():
    b = Builder()
    x = b.input("x", (2,))
    used = b.const("used", [1.0, 2.0])
    graph = b.output(b.node(Op.ADD, [x, used], name="y"))

    with pytest.raises(VerificationError, match="still in use"):
        graph.remove_value(used)
    with pytest.raises(VerificationError, match="still in use"):
        graph.remove_value(graph.outputs[0])
    graph.remove_value(b.const("unused", [0.0]))
    assert "unused" not in graph.values


def test_computed_input_names_the_first_non_constant_input():
    graph = Graph("g")
    x = graph.add_input("x", np.float32, (2, 3), Layout.NONE)
    shape = graph.constant("shape", np.array([3, 2], np.int64))
    out = graph.add_value("y", np.float32, (3, 2))
    node = graph.add_node(Op.RESHAPE, [x, shape], [out])
    assert node.computed_input(1) is None
    assert node.computed_input(1, 0) is x
    assert node.computed_input(5) is None
