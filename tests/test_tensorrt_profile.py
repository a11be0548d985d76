"""``--shape-profile``: dynamic dims back in the emitted ONNX, trtexec/Python profiles, refusals."""

from __future__ import annotations

import json
import os
import py_compile
import re
import runpy
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tensorrt_helpers import cleaned, cosine, emit, shellcheck

from edgec.backends.tensorrt.shape_profile import parse_shape_profile
from edgec.cli import main
from edgec.errors import ShapeError
from edgec.runtime import run, session

PPOCR_PROFILE = "x=1x3x48x192:4x3x48x192:8x3x48x192"


def dims(info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim]


def reshape_model(path: Path, target: list[int], name: str = "Input:0") -> Path:
    """Conv -> Reshape(constant target) at batch 2, input named like a TensorFlow tensor."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array(target, np.int64), "shape")
    nodes = [
        helper.make_node("Conv", [name, "w"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["conv", "shape"], ["out"], name="flatten me"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 4, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, target)],
        initializer=[weight, shape],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


@pytest.fixture(scope="module")
def ppocr_bundle(shared_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("ppocr") / "bundle"
    argv = ["build", str(shared_models / "ppocr_mobile_v2_cls.onnx"), "-t", "jetson-orin-nx", "-o", str(out)]
    assert main([*argv, "--shape-profile", PPOCR_PROFILE, "--samples", "2"]) == 0
    return out


@pytest.mark.parametrize("batch", [1, 8])
def test_ppocr_onnx_runs_at_min_and_max_batch(shared_models, ppocr_bundle, batch):
    model = onnx.load(ppocr_bundle / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert dims(model.graph.input[0]) == ["x_dim0", 3, 48, 192]
    assert isinstance(dims(model.graph.output[0])[0], str)
    feed = {"x": np.random.default_rng(batch).uniform(-1, 1, (batch, 3, 48, 192)).astype(np.float32)}
    (got,) = run(session(model), feed).values()
    (want,) = run(session(shared_models / "ppocr_mobile_v2_cls.onnx"), feed).values()
    assert got.shape == want.shape == (batch, 2)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_ppocr_bundle_records_the_profile(ppocr_bundle):
    manifest = json.loads((ppocr_bundle / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == [4, 3, 48, 192]
    assert manifest["backend_metadata"]["shape_profile"] == [
        {
            "input": "x",
            "min": [1, 3, 48, 192],
            "opt": [4, 3, 48, 192],
            "max": [8, 3, 48, 192],
            "dynamic_axes": [0],
        }
    ]
    assert dict(np.load(ppocr_bundle / "sample_input.npz"))["x"].shape == (4, 3, 48, 192)
    assert "--dla-core" not in (ppocr_bundle / "build_engine.sh").read_text()
    assert shellcheck(*ppocr_bundle.glob("*.sh")).returncode == 0


def test_yolox_reshapes_become_batch_agnostic(shared_models, tmp_path):
    graph = cleaned(shared_models / "yolox_det.onnx", {})
    profile = parse_shape_profile("images=1x3x416x416:1x3x416x416:3x3x416x416")
    emit(graph, "jetson-orin-nano", "fp32", tmp_path, shape_profile=(profile,))
    model = onnx.load(tmp_path / "model.onnx")
    targets = [
        numpy_helper.to_array(init).tolist()
        for node in model.graph.node
        if node.op_type == "Reshape"
        for init in model.graph.initializer
        if init.name == node.input[1]
    ]
    assert targets and all(t[0] == -1 for t in targets)
    images = np.random.default_rng(0).uniform(0, 255, (3, 3, 416, 416)).astype(np.float32)
    (got,) = run(session(model), {"images": images}).values()
    original = session(shared_models / "yolox_det.onnx")
    for item in range(3):
        (want,) = run(original, {"images": images[item : item + 1]}).values()
        assert cosine(got[item], want[0]) > 0.9999


def trtexec_args(bundle: Path, tmp_path: Path) -> list[str]:
    fake = tmp_path / "trtexec"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {
        **os.environ,
        "TRTEXEC": str(fake),
        "ARGS_FILE": str(tmp_path / "args"),
        "EDGEC_SKIP_DEVICE_CHECK": "1",
    }
    subprocess.run(["bash", str(bundle / "build_engine.sh")], env=env, check=True, capture_output=True)
    return (tmp_path / "args").read_text().splitlines()


def test_script_flags_quote_names_and_python_profile(tmp_path):
    model = reshape_model(tmp_path / "m.onnx", [2, 256])
    out = tmp_path / "bundle"
    spec = "Input:0=1x4x8x8:2x4x8x8:6x4x8x8"
    assert main(["build", str(model), "-t", "jetson-agx-orin", "-o", str(out), "--shape-profile", spec]) == 0
    args = trtexec_args(out, tmp_path)
    assert "--minShapes='Input:0':1x4x8x8" in args
    assert "--optShapes='Input:0':2x4x8x8" in args
    assert "--maxShapes='Input:0':6x4x8x8" in args
    assert shellcheck(out / "build_engine.sh").returncode == 0
    py_compile.compile(str(out / "build_engine.py"), doraise=True)
    namespace = runpy.run_path(str(out / "build_engine.py"), run_name="not_main")
    assert namespace["PROFILE"] == [("Input:0", [1, 4, 8, 8], [2, 4, 8, 8], [6, 4, 8, 8])]
    emitted = onnx.load(out / "model.onnx")
    (got,) = run(session(emitted), {"Input:0": np.ones((6, 4, 8, 8), np.float32)}).values()
    assert got.shape == (6, 256)


def test_a_reshape_that_mixes_the_batch_is_refused(tmp_path):
    graph = cleaned(reshape_model(tmp_path / "m.onnx", [1, 512]), {})
    profile = parse_shape_profile("Input:0=1x4x8x8:2x4x8x8:4x4x8x8")
    with pytest.raises(ShapeError, match="Reshape node 'flatten me'"):
        emit(graph, "jetson-orin-nano", "fp32", tmp_path / "out", shape_profile=(profile,))


def exit_code(argv: list[str]) -> int | str | None:
    """main()'s exit code, also for argparse's refusals (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--shape-profile", "x=8x3x48x192:4x3x48x192:1x3x48x192"], 2, "MIN <= OPT <= MAX"),
        (["--shape-profile", "x=1x3x48x192:9x3x48x192:8x3x48x192"], 2, "MIN <= OPT <= MAX"),
        (["--shape-profile", "x=1x3x48:1x3x48x192:8x3x48x192"], 2, "same number of dims"),
        (["--shape-profile", "y=1x3x48x192:4x3x48x192:8x3x48x192"], 2, "no input of that name"),
        ([PPOCR_PROFILE, "--input-shape", "x=2x3x48x192"], 2, "disagrees with the OPT shape"),
        ([PPOCR_PROFILE, "-t", "onnxruntime-cpu"], 2, "TensorRT \\(Jetson\\) targets only"),
        ([PPOCR_PROFILE, "--dla-core", "0"], 6, "no dynamic dimensions"),
    ],
)
def test_bad_profiles_are_refused(shared_models, tmp_path, capsys, extra, code, message):
    if extra[0] == PPOCR_PROFILE:
        extra = ["--shape-profile", *extra]
    target = [] if "-t" in extra else ["-t", "jetson-orin-nx"]
    argv = [
        "build",
        str(shared_models / "ppocr_mobile_v2_cls.onnx"),
        "-o",
        str(tmp_path / "b"),
        *target,
        *extra,
    ]
    assert exit_code(argv) == code
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "b").exists()
