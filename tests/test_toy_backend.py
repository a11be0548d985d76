"""A backend outside edgec (tests/toy_backend) plugs in through the ``edgec.backends`` entry point alone.

Its dist-info on PYTHONPATH makes it installed for a subprocess running
``python -m edgec``: it adds a target family (``--targets-file``), a flag of
its own and a ``[hardware]`` schema checked when the catalogue loads, and it
builds a bundle.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TOY = Path(__file__).parent / "toy_backend"
TARGETS = TOY / "toy_targets.toml"


def _edgec(*args: str | Path, plugin: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if plugin:
        env["PYTHONPATH"] = os.pathsep.join([str(TOY), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "edgec", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def _model(path: Path) -> Path:
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_the_toy_backend_builds_a_bundle_with_its_own_flag(tmp_path):
    out = tmp_path / "bundle"
    done = _edgec(
        "build", _model(tmp_path / "m.onnx"), "-t", "toy-npu-4", "--targets-file", TARGETS,
        "--toy-lanes-used", "2", "-o", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["backend"], manifest["target"]) == ("toy", "toy-npu-4")
    assert manifest["backend_metadata"] == {"lanes_used": 2}
    assert json.loads((out / "toy.json").read_text()) == {"model": "model.onnx", "lanes": 2}
    assert json.loads((out / "report.json").read_text())["accuracy"]["passed"] is True


def test_the_toy_flag_is_refused_for_other_backends_and_unknown_without_the_plugin(tmp_path):
    model = _model(tmp_path / "m.onnx")
    refused = _edgec("build", model, "-t", "onnxruntime-cpu", "--toy-lanes-used", "2", "-o", tmp_path / "a")
    assert refused.returncode == 2
    assert "--toy-lanes-used: for toy NPU targets only; target 'onnxruntime-cpu'" in refused.stderr
    unknown = _edgec("build", model, "-t", "onnxruntime-cpu", "--toy-lanes-used", "2", plugin=False)
    assert unknown.returncode == 2 and "unrecognized arguments: --toy-lanes-used" in unknown.stderr


def test_the_toy_hardware_schema_is_checked_when_the_catalogue_loads(tmp_path):
    listed = _edgec("targets", "--targets-file", TARGETS)
    assert listed.returncode == 0 and "toy-npu-4" in listed.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text(TARGETS.read_text().replace("lanes = 4", "lanes = 'four'"))
    refused = _edgec("targets", "--targets-file", broken)
    assert refused.returncode == 6
    assert "entry 'toy-npu-4', key 'hardware.lanes': must be an integer" in refused.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(TARGETS.read_text().replace("tops = 0.1", "tops = 0.1\nclock = 1"))
    assert "key 'hardware.clock': unknown key" in _edgec("targets", "--targets-file", unknown).stderr
