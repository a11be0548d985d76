"""eliminate-identity: no-ops go, Transpose and Reshape chains collapse, graph output names stay."""

from __future__ import annotations

import numpy as np
from helpers import Builder, ops, run_and_compare

from edgec.ir import Op
from edgec.passes import eliminate_identity
from edgec.passes.rewrite import explain


def _rule(name: str):
    return next(rule for rule in eliminate_identity.RULES if rule.name == name)


def test_identity_in_the_middle_goes():
    b = Builder()
    x = b.input("x", (2, 3))
    y = b.node(Op.IDENTITY, [b.node(Op.RELU, [x], name="r")], name="dropout")
    graph = b.output(b.node(Op.SIGMOID, [y], name="out"))

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 1
    assert ops(graph) == ["Relu", "Sigmoid"]
    assert graph.node_by_name("out").inputs[0].producer.op is Op.RELU


def test_identity_producing_a_graph_output_hands_its_name_to_the_producer():
    b = Builder()
    x = b.input("x", (1, 5))
    soft = b.node(Op.SOFTMAX, [x], name="softmax_0", axis=1)
    b.node(Op.NEG, [soft], name="other_user")
    out = b.node(Op.IDENTITY, [soft], name="save_infer_model/scale_0")
    graph = b.output(out, b.graph.values["other_user"])

    run_and_compare(graph, "eliminate-identity")

    assert ops(graph) == ["Softmax", "Neg"]
    assert [v.name for v in graph.outputs] == ["save_infer_model/scale_0", "other_user"]
    softmax = graph.nodes[0]
    assert softmax.name == "softmax_0" and softmax.output is graph.outputs[0]
    assert graph.node_by_name("other_user").inputs[0] is graph.outputs[0]


def test_identity_between_graph_input_and_output_stays():
    b = Builder()
    x = b.input("x", (2,))
    graph = b.output(b.node(Op.IDENTITY, [x], name="y"))

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 0
    assert "graph output" in explain(graph, _rule("identity"))["y"]


def test_identity_of_a_value_that_is_itself_a_graph_output_stays():
    b = Builder()
    x = b.input("x", (2,))
    r = b.node(Op.RELU, [x], name="r")
    graph = b.output(r, b.node(Op.IDENTITY, [r], name="copy"))

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 0
    assert ops(graph) == ["Relu", "Identity"]


def test_transpose_with_identity_perm_goes_other_perms_stay():
    b = Builder()
    x = b.input("x", (1, 2, 3, 4))
    same = b.node(Op.TRANSPOSE, [x], name="same", perm=[0, 1, 2, 3])
    graph = b.output(b.node(Op.TRANSPOSE, [same], (1, 3, 4, 2), name="nhwc", perm=[0, 2, 3, 1]))

    run_and_compare(graph, "eliminate-identity")
    assert ops(graph) == ["Transpose"]
    assert graph.nodes[0].attrs["perm"] == [0, 2, 3, 1]
    assert "not the identity" in explain(graph, _rule("identity-transpose"))["nhwc"]


def test_transposes_compose_and_cancel():
    b = Builder()
    x = b.input("x", (1, 2, 3, 4))
    nhwc = b.node(Op.TRANSPOSE, [x], (1, 3, 4, 2), name="to_nhwc", perm=[0, 2, 3, 1])
    back = b.node(Op.TRANSPOSE, [nhwc], (1, 2, 3, 4), name="to_nchw", perm=[0, 3, 1, 2])
    graph = b.output(b.node(Op.RELU, [back], name="out"))

    run_and_compare(graph, "eliminate-identity")
    assert ops(graph) == ["Relu"]
    assert graph.nodes[0].inputs[0] is graph.inputs[0]


def test_transpose_pair_with_shared_first_composes_into_one():
    b = Builder()
    x = b.input("x", (1, 2, 3, 4))
    first = b.node(Op.TRANSPOSE, [x], (1, 3, 4, 2), name="first", perm=[0, 2, 3, 1])
    second = b.node(Op.TRANSPOSE, [first], (4, 1, 2, 3), name="second", perm=[2, 0, 3, 1])
    graph = b.output(first, second)

    run_and_compare(graph, "eliminate-identity")
    assert ops(graph) == ["Transpose", "Transpose"]
    composed = graph.node_by_name("second")
    assert composed.inputs[0] is graph.inputs[0]
    assert composed.attrs["perm"] == [3, 0, 1, 2]
    assert [v.name for v in graph.outputs] == ["first", "second"]


def test_same_shape_reshape_expand_squeeze_and_same_dtype_cast_go():
    b = Builder()
    x = b.input("x", (2, 3))
    r = b.node(Op.RESHAPE, [x, b.const("s", np.array([2, -1]))], name="reshape", allowzero=0)
    e = b.node(Op.EXPAND, [r, b.const("e", np.array([1, 3]))], name="expand")
    s = b.node(Op.SQUEEZE, [e], name="squeeze")
    c = b.node(Op.CAST, [s], name="cast", to=np.dtype(np.float32), saturate=1)
    graph = b.output(b.node(Op.TANH, [c], name="out"))

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 4
    assert ops(graph) == ["Tanh"]


def test_shape_and_dtype_changing_ops_stay():
    b = Builder()
    x = b.input("x", (2, 3))
    r = b.node(Op.RESHAPE, [x, b.const("s", np.array([3, 2]))], (3, 2), name="reshape", allowzero=0)
    c = b.node(Op.CAST, [r], dtype=np.float16, name="cast", to=np.dtype(np.float16), saturate=1)
    graph = b.output(c)

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 0
    assert "dtype to float16" in explain(graph, _rule("same-dtype-cast"))["cast"]
    assert "shape differs" in explain(graph, _rule("same-shape"))["reshape"]


def test_reshape_of_reshape_uses_the_explicit_final_shape():
    b = Builder()
    x = b.input("x", (2, 3, 4))
    flat = b.node(Op.RESHAPE, [x, b.const("s1", np.array([3, 8]))], (3, 8), name="flat", allowzero=0)
    copy_dim = b.const("s2", np.array([0, 2, -1]))
    graph = b.output(b.node(Op.RESHAPE, [flat, copy_dim], (3, 2, 4), name="out", allowzero=0))

    run_and_compare(graph, "eliminate-identity")
    assert ops(graph) == ["Reshape"]
    reshape = graph.nodes[0]
    assert reshape.inputs[0] is graph.inputs[0]
    np.testing.assert_array_equal(reshape.const_input(1), [3, 2, 4])
    assert graph.outputs[0].name == "out"


def test_zero_pad_goes_real_pad_stays():
    b = Builder()
    x = b.input("x", (1, 2, 3, 3))
    zero = b.node(Op.PAD, [x, b.const("p0", np.zeros(8, np.int64))], name="zero", mode="constant")
    real = b.const("p1", np.array([0, 0, 1, 1, 0, 0, 1, 1]))
    graph = b.output(b.node(Op.PAD, [zero, real], (1, 2, 5, 5), name="real", mode="constant"))

    assert run_and_compare(graph, "eliminate-identity")[0].rewrites == 1
    assert ops(graph) == ["Pad"]
    assert "not all zero" in explain(graph, _rule("zero-pad"))["real"]
