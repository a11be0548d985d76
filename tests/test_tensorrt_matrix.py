"""Every real model for every Jetson target at every precision the target allows.

The models are loaded and cleaned once per module; each case runs the
backend's check and emit, checks the generated scripts (shellcheck,
py_compile) and runs the artifact's local runner against the input model.
"""

from __future__ import annotations

import json
import py_compile

import onnx
import pytest
from tensorrt_helpers import JETSONS, MODELS, cleaned, cosine, emit, random_feed, shellcheck

from edgec.accuracy import MIN_COSINE
from edgec.backends.tensorrt import BACKEND
from edgec.backends.tensorrt.stack import Stack
from edgec.runtime import run, session

CASES = [
    (model, target.name, precision)
    for model in sorted(MODELS)
    for target in JETSONS
    for precision in target.precisions
    if precision != "int8"
]


@pytest.fixture(scope="module")
def graphs(shared_models):
    return {name: cleaned(shared_models / name, shapes) for name, shapes in MODELS.items()}


@pytest.fixture(scope="module")
def references(shared_models, graphs):
    found = {}
    for name, graph in graphs.items():
        feed = random_feed(graph, seed=1)
        found[name] = (feed, run(session(shared_models / name, threads=1), feed))
    return found


def test_matrix_covers_every_jetson_target():
    assert {target for _, target, _ in CASES} == {t.name for t in JETSONS}
    assert len(JETSONS) == 8


@pytest.mark.parametrize(("model", "target", "precision"), CASES)
def test_builds(model, target, precision, graphs, references, tmp_path):
    graph = graphs[model]
    jetson = next(t for t in JETSONS if t.name == target)
    assert BACKEND.check(graph, jetson) == []
    artifact = emit(graph, target, precision, tmp_path)

    exported = onnx.load(tmp_path / artifact.main)
    onnx.checker.check_model(exported)
    assert exported.opset_import[0].version == Stack.of(jetson).max_opset
    assert all(d.dim_value > 0 for i in exported.graph.input for d in i.type.tensor_type.shape.dim)

    feed, expected = references[model]
    ours = artifact.runner(feed)
    for name, value in expected.items():
        assert cosine(value, ours[name]) >= MIN_COSINE[precision], name

    result = shellcheck(tmp_path / "build_engine.sh", tmp_path / "check_accuracy.sh")
    assert result.returncode == 0, result.stdout
    for script in ("build_engine.py", "infer.py", "device_check.py"):
        py_compile.compile(str(tmp_path / script), doraise=True)
    assert (
        json.loads(json.dumps(artifact.metadata))["compatibility"]["compute_capability"]
        == (jetson.hardware["compute_capability"])
    )
