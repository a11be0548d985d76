"""verify() catches each broken invariant and names it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import Builder

from edgec.errors import PassError, VerificationError
from edgec.ir import Graph, Op, verify
from edgec.passes import manager, run_passes


def _chain() -> Graph:
    b = Builder()
    x = b.input("x", (1, 4))
    r = b.node(Op.RELU, [x], name="r")
    return b.output(b.node(Op.ADD, [r, b.const("c", np.ones(4, np.float32))], name="y"))


def test_a_valid_graph_passes():
    verify(_chain())


def test_wrong_shape():
    graph = _chain()
    graph.values["r"].shape = (1, 5)
    with pytest.raises(VerificationError, match="'r' dim 1 is 5, op rules say 4"):
        verify(graph)


def test_wrong_rank():
    graph = _chain()
    graph.values["r"].shape = (4,)
    with pytest.raises(VerificationError, match="'r' has rank 1, op rules say 2"):
        verify(graph)


def test_graph_output_shape_contradicting_the_op_rules():
    graph = _chain()
    graph.values["y"].shape = (4,)
    with pytest.raises(VerificationError, match="differ in rank"):
        verify(graph)


def test_mismatched_dtypes():
    graph = _chain()
    graph.values["c"].data = np.ones(4, np.float64)
    graph.values["c"].dtype = np.dtype(np.float64)
    with pytest.raises(VerificationError, match="inconsistent type"):
        verify(graph)


def test_use_before_def():
    graph = _chain()
    graph.nodes = graph.nodes[::-1]
    with pytest.raises(VerificationError, match="'r' is used before it is defined"):
        verify(graph)


def test_dangling_value():
    graph = _chain()
    graph.add_value("orphan", np.float32, (1, 4))
    with pytest.raises(VerificationError, match="'orphan' is dangling"):
        verify(graph)


def test_duplicate_node_name():
    graph = _chain()
    graph.nodes[1].name = "r"
    with pytest.raises(VerificationError, match="node name 'r' is not unique"):
        verify(graph)


def test_unregistered_value():
    graph = _chain()
    del graph.values["r"]
    with pytest.raises(VerificationError, match="'r' is not registered"):
        verify(graph)


def test_missing_and_stale_uses():
    graph = _chain()
    graph.values["x"].uses.clear()
    with pytest.raises(VerificationError, match="'x' does not record this use"):
        verify(graph, shapes=False)

    graph = _chain()
    graph.values["x"].uses.append((graph.nodes[1], 0))
    with pytest.raises(VerificationError, match="stale use by 'y'"):
        verify(graph, shapes=False)


def test_output_without_producer_record_and_undefined_graph_output():
    graph = _chain()
    graph.values["r"].producer = None
    with pytest.raises(VerificationError, match="'r' does not record its producer"):
        verify(graph, shapes=False)

    graph = _chain()
    graph.outputs.append(dataclasses.replace(graph.values["r"], name="ghost"))
    with pytest.raises(VerificationError, match="'ghost' is not registered"):
        verify(graph, shapes=False)


def test_pass_manager_names_the_pass_that_broke_the_graph(monkeypatch):
    def breaks(graph: Graph, options: manager.NoOptions) -> int:
        graph.nodes = graph.nodes[::-1]
        return 1

    monkeypatch.setitem(manager.REGISTRY, "breaks", manager.PassInfo("breaks", breaks, manager.NoOptions, ""))
    with pytest.raises(PassError, match="pass 'breaks' left an invalid graph"):
        run_passes(_chain(), [manager.make_spec("breaks")])
