"""The three shared real models: import, fold, verify, and agree with ONNX Runtime on the originals."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgec.frontend import load_model
from edgec.ir import Graph, Layout, Op, to_onnx, verify
from edgec.runtime import run, session

MODELS = {
    "efficientnet_lite0.onnx": None,
    "ppocr_mobile_v2_cls.onnx": {"x": (1, 3, 48, 192)},
    "yolox_det.onnx": None,
}


@pytest.fixture(scope="module")
def imported(shared_models: Path) -> dict[str, Graph]:
    return {name: load_model(shared_models / name, shapes) for name, shapes in MODELS.items()}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name", list(MODELS))
def test_imported_model_matches_onnx_runtime_on_the_original(imported, shared_models, name):
    graph = imported[name]
    verify(graph)
    assert all(v.shape is not None for v in graph.values.values())
    original, ours = session(shared_models / name), session(to_onnx(graph))
    (source,) = graph.inputs
    for seed in range(8):
        feeds = {source.name: np.random.default_rng(seed).standard_normal(source.shape).astype(np.float32)}
        expected, actual = run(original, feeds), run(ours, feeds)
        assert set(actual) == set(expected)
        for output, want in expected.items():
            assert actual[output].shape == want.shape
            assert _cosine(actual[output], want) >= 0.99999, (output, seed)


@pytest.mark.parametrize("name", list(MODELS))
def test_layouts_and_canonical_form(imported, name):
    graph = imported[name]
    for value in graph.values.values():
        four_d = not value.is_constant and len(value.shape) == 4
        assert value.layout is (Layout.NCHW if four_d else Layout.NONE), value.name
    for clip in graph.nodes_of(Op.CLIP):
        assert len(clip.inputs) == 3 and all(v is not None and v.is_constant for v in clip.inputs[1:])
    for conv in graph.nodes_of(Op.CONV):
        assert {"kernel_shape", "strides", "pads", "dilations", "group"} <= set(conv.attrs)


def test_efficientnet_padding_arithmetic_folds_away(imported, shared_models):
    """Compared: the original's nodes other than Constant (the IR holds those as constant values)."""
    graph = imported["efficientnet_lite0.onnx"]
    original = onnx.load(shared_models / "efficientnet_lite0.onnx", load_external_data=False)
    original_nodes = sum(1 for node in original.graph.node if node.op_type != "Constant")
    assert not graph.nodes_of(Op.SHAPE, Op.CONSTANT_OF_SHAPE, Op.CAST, Op.SLICE)
    assert len(graph.nodes) <= original_nodes
    ops = Counter(node.op for node in graph.nodes)
    assert ops[Op.PAD] == 17 and all(pad.inputs[1].is_constant for pad in graph.nodes_of(Op.PAD))


def test_ppocr_shape_subgraph_folds_to_a_constant_reshape(imported):
    graph = imported["ppocr_mobile_v2_cls.onnx"]
    assert not graph.nodes_of(Op.SHAPE, Op.SLICE, Op.CONCAT, Op.CAST)
    (reshape,) = graph.nodes_of(Op.RESHAPE)
    assert reshape.inputs[1].is_constant and reshape.output.shape == (1, 200)
    assert graph.outputs[0].shape == (1, 2)
