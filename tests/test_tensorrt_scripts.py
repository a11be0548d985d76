"""The device scripts: trtexec flags per TensorRT release, DLA options, device checks, hostile names."""

from __future__ import annotations

import json
import os
import py_compile
import runpy
import subprocess
from pathlib import Path

import pytest
from tensorrt_helpers import HOSTILE, cleaned, emit, hostile_model, shellcheck

from edgec.cli import main
from edgec.errors import TargetError


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return cleaned(hostile_model(tmp_path_factory.mktemp("m") / "model.onnx"), {})


def fake_trtexec(tmp_path: Path) -> Path:
    """A trtexec stand-in that writes its arguments, one per line."""
    path = tmp_path / "trtexec"
    path.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def trtexec_args(bundle: Path, tmp_path: Path, *options: str) -> list[str]:
    env = {
        **os.environ,
        "TRTEXEC": str(fake_trtexec(tmp_path)),
        "ARGS_FILE": str(tmp_path / "args"),
        "EDGEC_SKIP_DEVICE_CHECK": "1",
    }
    done = subprocess.run(
        ["bash", str(bundle / "build_engine.sh"), *options],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    here = str(bundle.resolve())
    return [a.replace(here, "HERE") for a in (tmp_path / "args").read_text().splitlines()]


@pytest.mark.parametrize(
    ("target", "precision", "expected"),
    [
        ("jetson-nano", "fp16", ["--workspace=512", "--fp16", "--onnx=HERE/model.onnx"]),
        ("jetson-tx2", "fp32", ["--workspace=2048", "--onnx=HERE/model.onnx"]),
        ("jetson-xavier-nx", "fp16", ["--memPoolSize=workspace:2048", "--fp16", "--onnx=HERE/model.onnx"]),
        ("jetson-agx-orin", "fp32", ["--memPoolSize=workspace:4096", "--onnx=HERE/model.onnx"]),
    ],
)
def test_trtexec_flags_follow_the_tensorrt_release(small, tmp_path, target, precision, expected):
    bundle = tmp_path / "b"
    emit(small, target, precision, bundle)
    args = trtexec_args(bundle, tmp_path)
    assert args == ["--saveEngine=HERE/model.engine", "--timingCacheFile=HERE/timing.cache", *expected]


def test_dla_core_and_gpu_fallback(small, tmp_path):
    bundle = tmp_path / "b"
    emit(small, "jetson-agx-xavier", "fp16", bundle, dla_core=1)
    assert trtexec_args(bundle, tmp_path)[-3:] == [
        "--onnx=HERE/model.onnx",
        "--useDLACore=1",
        "--allowGPUFallback",
    ]
    assert "--useDLACore=0" in trtexec_args(bundle, tmp_path, "--dla-core", "0", "--no-gpu-fallback")
    assert "--allowGPUFallback" not in trtexec_args(bundle, tmp_path, "--no-gpu-fallback")
    assert not any("DLA" in a for a in trtexec_args(bundle, tmp_path, "--gpu"))
    bad = subprocess.run(
        ["bash", str(bundle / "build_engine.sh"), "--dla-core", "2"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "DLA cores 0..1" in bad.stderr


@pytest.mark.parametrize("target", ["jetson-nano", "jetson-tx2", "jetson-orin-nano"])
def test_no_dla_options_without_dla(small, tmp_path, target):
    emit(small, target, "fp16", tmp_path)
    for script in ("build_engine.sh", "build_engine.py"):
        text = (tmp_path / script).read_text()
        assert not any(
            word in text for word in ("--dla-core", "useDLACore", "DeviceType.DLA", "GPU_FALLBACK")
        )
    with pytest.raises(TargetError, match="has no DLA cores"):
        emit(small, target, "fp16", tmp_path / "dla", dla_core=0)


@pytest.mark.parametrize(
    "target", ["jetson-xavier-nx", "jetson-agx-xavier", "jetson-orin-nx", "jetson-agx-orin"]
)
def test_dla_options_where_the_module_has_dla(small, tmp_path, target):
    emit(small, target, "fp16", tmp_path)
    assert "--dla-core" in (tmp_path / "build_engine.sh").read_text()
    assert "--dla-core" in (tmp_path / "build_engine.py").read_text()


def test_dla_refusals(small, tmp_path):
    with pytest.raises(TargetError, match="DLA runs only fp16 and int8"):
        emit(small, "jetson-agx-orin", "fp32", tmp_path / "a", dla_core=0)
    with pytest.raises(TargetError, match=r"DLA cores 0\.\.0"):
        emit(small, "jetson-orin-nx", "fp16", tmp_path / "b", dla_core=1)


def test_no_gpu_fallback_refuses_layers_the_dla_cannot_take(shared_models, tmp_path):
    graph = cleaned(shared_models / "ppocr_mobile_v2_cls.onnx", {"x": (1, 3, 48, 192)})
    with pytest.raises(
        TargetError, match=r"--no-gpu-fallback: \d+ layer\(s\) cannot run on the DLA.*GlobalAveragePool"
    ):
        emit(graph, "jetson-agx-orin", "fp16", tmp_path, dla_core=0, gpu_fallback=False)


def test_device_check_refuses_a_mismatching_device(small, tmp_path):
    bundle = tmp_path / "b"
    emit(small, "jetson-xavier-nx", "fp16", bundle)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 8.7\n")
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nprintf 10.3.0.30-1+cuda12.5\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for command in (
        ["python3", "device_check.py"],
        ["bash", "build_engine.sh"],
        ["bash", "check_accuracy.sh"],
    ):
        done = subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 3, command
        assert "GPU compute capability is 8.7, the bundle needs 7.2" in done.stderr
        assert "TensorRT release is 10.3, the bundle needs 8.5" in done.stderr
    matching = dict(env, PATH=f"{bin_dir}:{os.environ['PATH']}")
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 7.2\n")
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nprintf 8.5.2-1+cuda11.4\n")
    done = subprocess.run(
        ["python3", "device_check.py"], cwd=bundle, env=matching, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_hostile_names_stay_plain_text(tmp_path):
    model = hostile_model(tmp_path / "model.onnx")
    out = tmp_path / "bundle"
    assert main(["build", str(model), "-t", "jetson-agx-orin", "-o", str(out), "--dla-core", "0"]) == 0
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert all("/" not in f and " " not in f and "$" not in f for f in files), files
    assert shellcheck(out / "build_engine.sh", out / "check_accuracy.sh").returncode == 0
    for script in ("build_engine.py", "infer.py", "device_check.py"):
        py_compile.compile(str(out / script), doraise=True)
    names = runpy.run_path(str(out / "infer.py"), run_name="not_main")
    assert names["INPUTS"] == [f"in {HOSTILE}"] and names["OUTPUTS"] == [f"out {HOSTILE}"]
    args = trtexec_args(out, tmp_path)
    assert "--useDLACore=0" in args and not (tmp_path / "pwned").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["name"] == f"in {HOSTILE}"


def test_int8_on_nano_is_refused_with_the_reason(tmp_path, capsys):
    model = hostile_model(tmp_path / "model.onnx")
    code = main(["build", str(model), "-t", "jetson-nano", "--precision", "int8", "-o", str(tmp_path / "b")])
    assert code == TargetError.exit_code
    err = capsys.readouterr().err
    assert "compute capability 5.3" in err and "no fast INT8" in err and "use fp16" in err
    assert not (tmp_path / "b").exists()


def test_build_engine_needs_tensorrt_and_a_gpu(tmp_path, capsys):
    model = hostile_model(tmp_path / "model.onnx")
    code = main(["build", str(model), "-t", "jetson-agx-orin", "--build-engine", "-o", str(tmp_path / "b")])
    assert code == TargetError.exit_code
    err = capsys.readouterr().err
    assert "`import tensorrt` fails" in err and "NVIDIA GPU" in err and "build_engine.sh" in err
    assert not (tmp_path / "b").exists()
