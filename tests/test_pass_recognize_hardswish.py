"""recognize-hardswish: x * HardSigmoid(x) and x * Clip(x + 3, 0, 6) / 6 become HardSwish(x)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from helpers import Builder, ops, run_and_compare

from edgec.frontend import load_model
from edgec.ir import Op, Value
from edgec.passes import recognize_hardswish
from edgec.passes.rewrite import explain

RULE = recognize_hardswish.RULES[0]


def _relu6_plus_3(b: Builder, x: Value, three_first: bool = False, high: float = 6.0) -> Value:
    three = b.const("three", np.float32(3.0))
    shifted = b.node(Op.ADD, [three, x] if three_first else [x, three], x.shape, name="plus3")
    return b.node(
        Op.CLIP, [shifted, b.const("zero", np.float32(0)), b.const("six", np.float32(high))], name="relu6"
    )


def _sixth(b: Builder, v: Value, spelling: str, name: str) -> Value:
    if spelling == "div":
        return b.node(Op.DIV, [v, b.const("six_d", np.float32(6.0))], name=name)
    return b.node(Op.MUL, [b.const("sixth", np.float32(1 / 6)), v], v.shape, name=name)


@pytest.mark.parametrize("x_first", [True, False])
def test_x_times_hard_sigmoid_of_x(x_first):
    b = Builder()
    x = b.input("x", (1, 4, 3, 3))
    gate = b.node(Op.HARD_SIGMOID, [x], name="hsig", alpha=1 / 6, beta=0.5)
    graph = b.output(b.node(Op.MUL, [x, gate] if x_first else [gate, x], name="hswish"))

    assert run_and_compare(graph, "recognize-hardswish")[0].rewrites == 1
    assert ops(graph) == ["HardSwish"]
    assert graph.nodes[0].inputs == [x] and graph.outputs[0].name == "hswish"


@pytest.mark.parametrize("spelling", ["div", "mul"])
@pytest.mark.parametrize("three_first", [False, True])
def test_paddle_spelling_scaled_after_the_product(spelling, three_first):
    b = Builder()
    x = b.input("x", (1, 4, 3, 3))
    product = b.node(Op.MUL, [x, _relu6_plus_3(b, x, three_first)], name="product")
    graph = b.output(b.node(Op.RELU, [_sixth(b, product, spelling, "hardswish_0")], name="out"))

    assert run_and_compare(graph, "recognize-hardswish")[0].rewrites == 1
    assert ops(graph) == ["HardSwish", "Relu"]
    assert graph.nodes[0].name == "hardswish_0"


@pytest.mark.parametrize("spelling", ["div", "mul"])
def test_gate_scaled_before_the_product(spelling):
    b = Builder()
    x = b.input("x", (2, 6))
    gate = _sixth(b, _relu6_plus_3(b, x), spelling, "gate")
    graph = b.output(b.node(Op.MUL, [gate, x], name="hswish"))

    run_and_compare(graph, "recognize-hardswish")
    assert ops(graph) == ["HardSwish"]


def test_squeeze_excite_gating_and_other_look_alikes_stay():
    b = Builder()
    x = b.input("x", (1, 4, 3, 3))
    y = b.input("y", (1, 4, 3, 3))
    se_gate = b.node(Op.HARD_SIGMOID, [x], name="se_gate", alpha=0.2, beta=0.5)
    se = b.node(Op.MUL, [y, se_gate], name="se")
    paddle_gate = b.node(Op.HARD_SIGMOID, [x], name="paddle_gate", alpha=0.2, beta=0.5)
    slope = b.node(Op.MUL, [x, paddle_gate], name="slope")
    relu5 = b.node(Op.MUL, [x, _relu6_plus_3(b, x, high=5.0)], name="relu5")
    scaled = _sixth(b, relu5, "div", "scaled")
    graph = b.output(se, slope, scaled)

    assert run_and_compare(graph, "recognize-hardswish")[0].rewrites == 0
    assert ops(graph).count("HardSigmoid") == 2
    assert set(explain(graph, RULE)) == {"se", "slope", "relu5", "scaled"}


def test_product_with_another_use_is_kept():
    b = Builder()
    x = b.input("x", (2, 6))
    product = b.node(Op.MUL, [x, _relu6_plus_3(b, x)], name="product")
    graph = b.output(_sixth(b, product, "div", "hswish"), b.node(Op.NEG, [product], name="neg"))

    assert run_and_compare(graph, "recognize-hardswish")[0].rewrites == 0
    assert explain(graph, RULE)["hswish"] == "'product' has 2 uses"


def test_ppocr_cls_hardswishes_found_squeeze_excite_gates_kept(shared_models):
    graph = load_model(shared_models / "ppocr_mobile_v2_cls.onnx", {"x": (1, 3, 48, 192)})

    assert run_and_compare(graph, "recognize-hardswish")[0].rewrites == 18
    counts = Counter(ops(graph))
    assert (counts["HardSwish"], counts["HardSigmoid"], counts["Mul"], counts["Div"], counts["Clip"]) == (
        18,
        9,
        9,
        0,
        0,
    )
    for gate in graph.nodes_of(Op.HARD_SIGMOID):
        (mul,) = gate.output.users()
        assert mul.op is Op.MUL and gate.inputs[0] not in mul.inputs
