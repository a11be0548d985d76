"""SNPE bundles: calibration .raw files and input lists, the scripts under shellcheck, hostile names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.pipeline import BuildOptions, build
from edgec.quantization.build import QuantizationOptions

SHELLCHECK = Path(sys.executable).parent / "shellcheck"
HOSTILE_IN = 'it\'s a "x" $(touch pwned) `id`'
HOSTILE_OUT = "out; $(touch pwned2)"
IMG, VEC = "img'$(id)", 'v"`id`'


def _save(path, nodes, inputs, outputs, inits):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def _weight(name, *shape):
    return numpy_helper.from_array(np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def one_input_model(path):
    nodes = [
        helper.make_node("Conv", [HOSTILE_IN, "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], [HOSTILE_OUT]),
    ]
    return _save(
        path,
        nodes,
        [helper.make_tensor_value_info(HOSTILE_IN, TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(HOSTILE_OUT, TensorProto.FLOAT, [1, 4, 8, 8])],
        [_weight("w", 4, 3, 3, 3)],
    )


def two_input_model(path):
    nodes = [
        helper.make_node("GlobalAveragePool", [IMG], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["g"]),
        helper.make_node("Add", ["g", VEC], ["y"]),
    ]
    return _save(
        path,
        nodes,
        [
            helper.make_tensor_value_info(IMG, TensorProto.FLOAT, [1, 3, 6, 5]),
            helper.make_tensor_value_info(VEC, TensorProto.FLOAT, [1, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [_weight("w", 3, 4)],
    )


def _samples(path, shapes, count):
    rng = np.random.default_rng(1)
    data = {name: rng.standard_normal((count, *shape)).astype(np.float32) for name, shape in shapes.items()}
    np.savez(path, **data)
    return path, data


def _calibrated_bundle(model, target, output, npz):
    """The bundle of an int8 build of ``model`` for ``target``, ``npz`` as sample and calibration data."""
    options = BuildOptions(
        model=model,
        target=target,
        output=output,
        sample_data=npz,
        quantization=QuantizationOptions(calibration_data=npz),
    )
    return build(options).bundle


def test_two_inputs_calibration_files_and_list(tmp_path):
    model = two_input_model(tmp_path / "two.onnx")
    npz, data = _samples(tmp_path / "s.npz", {IMG: (1, 3, 6, 5), VEC: (1, 4)}, 3)
    out = _calibrated_bundle(model, "snapdragon-888-htp", tmp_path / "b", npz)
    lines = (out / "input_list.txt").read_text().splitlines()
    assert len(lines) == 3
    for index, line in enumerate(lines):
        pairs = [item.split(":=") for item in line.split(" ")]
        assert [name for name, _ in pairs] == [IMG, VEC]
        for name, rel in pairs:
            assert not Path(rel).is_absolute() and ".." not in rel
            raw = np.fromfile(out / rel, dtype=np.float32)
            expected = data[name][index]
            if name == IMG:
                expected = expected.transpose(0, 2, 3, 1)
            np.testing.assert_array_equal(raw.reshape(expected.shape), expected)
    (gemm_weight,) = [i for i in onnx.load(out / "model.onnx").graph.initializer if i.dims == [4, 3]]
    assert gemm_weight.dims == [4, 3]  # Gemm rewritten to transB=1: weights stored transposed


@pytest.fixture(scope="module")
def hostile_bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    model = one_input_model(tmp / "m $(x).onnx")
    npz, _ = _samples(tmp / "s.npz", {HOSTILE_IN: (1, 3, 8, 8)}, 2)
    return _calibrated_bundle(model, "snapdragon-8gen3", tmp / "b", npz)


def test_scripts_pass_shellcheck(hostile_bundle):
    scripts = [hostile_bundle / "export_dlc.sh", hostile_bundle / "run_on_device.sh"]
    result = subprocess.run([str(SHELLCHECK), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_single_input_list_has_one_relative_path_per_sample(hostile_bundle):
    lines = (hostile_bundle / "input_list.txt").read_text().splitlines()
    assert lines == [
        "calibration/0000/it_s_a_x_touch_pwned_id.raw",
        "calibration/0001/it_s_a_x_touch_pwned_id.raw",
    ]


def _fake_tools(bin_dir: Path) -> None:
    bin_dir.mkdir()
    for tool in ("snpe-onnx-to-dlc", "snpe-dlc-quantize"):
        script = bin_dir / tool
        script.write_text(
            "#!/usr/bin/env bash\n"
            'for a in "$@"; do printf "%s\\n" "$a"; done > "$FAKE_LOG/$(basename "$0").args"\n'
        )
        script.chmod(0o755)


def test_export_script_passes_hostile_names_as_plain_words(hostile_bundle, tmp_path):
    _fake_tools(tmp_path / "bin")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(hostile_bundle / "export_dlc.sh")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    convert = (tmp_path / "snpe-onnx-to-dlc.args").read_text().splitlines()
    assert convert[convert.index("--input_dim") + 1 : convert.index("--input_dim") + 3] == [
        HOSTILE_IN,
        "1,3,8,8",
    ]
    assert convert[convert.index("--out_name") + 1] == HOSTILE_OUT
    quantize = (tmp_path / "snpe-dlc-quantize.args").read_text().splitlines()
    assert quantize[quantize.index("--htp_socs") + 1] == "sm8650"
    assert "--use_per_channel_quantization" in quantize and "--override_params" in quantize
    overrides = convert[convert.index("--quantization_overrides") + 1]
    assert overrides == "quantization_overrides.json" and (hostile_bundle / overrides).is_file()
    assert not list(tmp_path.glob("pwned*")) and not list(hostile_bundle.glob("pwned*"))


def test_export_script_stops_without_the_sdk(hostile_bundle, tmp_path):
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["bash", str(hostile_bundle / "export_dlc.sh")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 127
    assert "'snpe-onnx-to-dlc' is not on PATH" in result.stderr and "envsetup.sh" in result.stderr
