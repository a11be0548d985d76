"""eliminate-dead: nodes that reach no graph output go, and so do unused constants."""

from __future__ import annotations

from helpers import Builder, ops, run_and_compare

from edgec.ir import Op
from edgec.passes import eliminate_dead  # noqa: F401  (registers the pass)


def test_removes_dead_chains_and_their_constants():
    b = Builder()
    x = b.input("x", (1, 4))
    live = b.node(Op.RELU, [x], name="live")
    dead = b.node(Op.ADD, [x, b.const("dead_c", [1.0, 2.0, 3.0, 4.0])], name="dead")
    b.node(Op.SIGMOID, [dead], name="dead_too")
    b.const("never_used", [7.0])
    graph = b.output(live)

    records = run_and_compare(graph, "eliminate-dead")

    assert ops(graph) == ["Relu"]
    assert "dead_c" not in graph.values and "never_used" not in graph.values
    assert records[0].rewrites == 4


def test_keeps_multi_output_node_with_one_live_output_and_is_idempotent():
    b = Builder()
    x = b.input("x", (1, 6))
    split_sizes = b.const("sizes", [3, 3])
    left = b.graph.add_value("left", x.dtype, (1, 3))
    right = b.graph.add_value("right", x.dtype, (1, 3))
    b.graph.add_node(Op.SPLIT, [x, split_sizes], [left, right], {"axis": 1}, name="split")
    b.node(Op.NEG, [right], name="unused_neg")
    graph = b.output(left)

    run_and_compare(graph, "eliminate-dead")
    assert ops(graph) == ["Split"]
    assert run_and_compare(graph, "eliminate-dead")[0].rewrites == 0


def test_unused_graph_inputs_and_direct_outputs_stay():
    b = Builder()
    x = b.input("x", (2, 2))
    b.input("unused", (3,))
    graph = b.output(x)

    assert run_and_compare(graph, "eliminate-dead")[0].rewrites == 0
    assert [v.name for v in graph.inputs] == ["x", "unused"]
