"""fold-constants: shape subgraphs and constant-only nodes become constants; numerics unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.errors import ModelError, UsageError
from edgec.ir import Graph, Layout, Op, format_graph, verify
from edgec.passes import make_spec, run_passes
from edgec.passes.fold_constants import FoldConstantsOptions, fold_constants
from edgec.runtime import run_graph


def _shape_subgraph() -> Graph:
    """y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))."""
    g = Graph("shape_subgraph")
    x = g.add_input("x", np.float32, (2, 3, 4), Layout.NONE)
    shape = g.add_value("shape", np.int64, (3,))
    g.add_node(Op.SHAPE, [x], [shape], {"start": 0})
    dim = g.add_value("dim", np.int64, ())
    g.add_node(Op.GATHER, [shape, g.constant("zero", np.array(0, np.int64))], [dim], {"axis": 0})
    unsqueezed = g.add_value("unsqueezed", np.int64, (1,))
    g.add_node(Op.UNSQUEEZE, [dim, g.constant("axes", np.array([0], np.int64))], [unsqueezed])
    target = g.add_value("target", np.int64, (2,))
    g.add_node(Op.CONCAT, [unsqueezed, g.constant("rest", np.array([-1], np.int64))], [target], {"axis": 0})
    y = g.add_value("y", np.float32, (2, 12))
    g.add_node(Op.RESHAPE, [x, target], [y], {"allowzero": 0})
    g.outputs = [y]
    verify(g)
    return g


def test_shape_gather_unsqueeze_concat_reshape_folds():
    graph = _shape_subgraph()
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    before = run_graph(graph, {"x": x})
    (record,) = run_passes(graph, [make_spec("fold-constants")])
    assert record.rewrites == 4
    (reshape,) = graph.nodes
    assert reshape.op is Op.RESHAPE
    assert reshape.inputs[1].name == "target" and reshape.inputs[1].data.tolist() == [2, -1]
    assert set(graph.values) == {"x", "target", "y"}
    np.testing.assert_array_equal(run_graph(graph, {"x": x})["y"], before["y"])
    assert fold_constants(graph, FoldConstantsOptions()) == 0


def test_results_above_the_size_limit_stay_computed():
    g = Graph("big")
    x = g.add_input("x", np.float32, (64, 64), Layout.NONE)
    filled = g.add_value("filled", np.float32, (64, 64))
    g.add_node(
        Op.CONSTANT_OF_SHAPE,
        [g.constant("dims", np.array([64, 64], np.int64))],
        [filled],
        {"value": np.array([1.5], np.float32)},
    )
    y = g.add_value("y", np.float32, (64, 64))
    g.add_node(Op.ADD, [x, filled], [y])
    g.outputs = [y]
    (record,) = run_passes(g, [make_spec("fold-constants", {"max_bytes": 1024})])
    assert record.rewrites == 0 and len(g.nodes) == 2
    (record,) = run_passes(g, [make_spec("fold-constants")])
    assert record.rewrites == 1 and g.nodes[0].inputs[1].name == "filled"
    assert float(g.nodes[0].inputs[1].data.sum()) == 1.5 * 64 * 64


def test_multi_output_nodes_and_graph_outputs_keep_their_names():
    g = Graph("split")
    halves = [g.add_value(f"half{i}", np.float32, (2,)) for i in range(2)]
    g.add_node(
        Op.SPLIT,
        [g.constant("data", np.arange(4, dtype=np.float32)), g.constant("sizes", np.array([2, 2], np.int64))],
        halves,
        {"axis": 0},
    )
    g.outputs = list(halves)
    assert fold_constants(g, FoldConstantsOptions()) == 1
    assert not g.nodes and [v.name for v in g.outputs] == ["half0", "half1"]
    assert g.outputs[1].data.tolist() == [2.0, 3.0]
    verify(g)
    assert "half1" in format_graph(g)


def test_inconsistent_constants_are_reported_not_swallowed():
    g = Graph("bad")
    y = g.add_value("y", np.float32, (4,))
    data, shape = (
        g.constant("data", np.arange(6, dtype=np.float32)),
        g.constant("shape", np.array([4], np.int64)),
    )
    g.add_node(Op.RESHAPE, [data, shape], [y], {"allowzero": 0}, name="reshape_bad")
    g.outputs = [y]
    with pytest.raises(ModelError, match="node 'reshape_bad' \\(Reshape\\) cannot be evaluated"):
        fold_constants(g, FoldConstantsOptions())


def test_options_are_validated():
    with pytest.raises(UsageError, match="fold-constants"):
        make_spec("fold-constants", {"limit": 3})
