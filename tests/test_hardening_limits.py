"""Issue 19 item 3: memory and time bounded before any work. Sample counts capped (exit 2 naming the
option and the cap), tensors larger than memory allows refused naming them (exit 5; an initializer:
exit 3), a model path that is not a regular file refused before reading (exit 3)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hardening_helpers import assert_clean, relu_model, run_cli, save_model, tensor
from onnx import TensorProto, helper

from edgec import limits
from edgec.limits import MAX_CALIBRATION_SAMPLES, MAX_SAMPLES

BUILD = ("build", "-t", "onnxruntime-cpu")
GIB = 1 << 30


@pytest.fixture
def eight_gib(monkeypatch):
    """The limits against a machine with 8 GiB available, whatever this one has."""
    monkeypatch.setattr(limits, "available_memory", lambda: 8 * GIB)


def test_samples_above_the_cap_are_refused(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"), "--samples", "100000000000")
    assert_clean(code, err, 2, "--samples", str(MAX_SAMPLES))


def test_calibration_samples_above_the_cap_are_refused(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    argv = ("--precision", "int8", "--calibration-samples", "1000000")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"), *argv)
    assert_clean(code, err, 2, "--calibration-samples", str(MAX_CALIBRATION_SAMPLES))


def test_samples_that_do_not_fit_in_memory_are_refused(tmp_path, capsys, eight_gib):
    model = relu_model(tmp_path / "m.onnx", dims=(1, 3, 512, 512))  # 3 MiB per sample
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"), "--samples", "10000")
    assert_clean(code, err, 2, "--samples 10000", "at most 1365")
    argv = ("--precision", "int8", "--calibration-samples", "5000", "--samples", "1")
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"), *argv)
    assert_clean(code, err, 2, "--calibration-samples 5000", "at most 1365")


def test_a_huge_static_input_is_refused_naming_it(tmp_path, capsys, eight_gib):
    model = relu_model(tmp_path / "big.onnx", dims=(1, 3, 100000, 100000))
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 5, "big.onnx", "input 'x'", "1x3x100000x100000", "111.8 GiB")


def test_an_expand_to_1e5_by_1e5_is_refused_naming_the_tensor(tmp_path, capsys, eight_gib):
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [100000, 100000])
    node = helper.make_node("Expand", ["x", "shape"], ["wide"], name="blow_up")
    model = save_model(
        tmp_path / "e.onnx", [node], [tensor("x", [1, 1])], [tensor("wide", ["a", "b"])], [shape]
    )
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 5, "e.onnx", "Expand node 'blow_up'", "37.3 GiB")


def test_an_intermediate_tensor_too_big_for_memory_is_refused_naming_it(tmp_path, capsys, eight_gib):
    row = helper.make_tensor("row", TensorProto.FLOAT, [1, 100000], np.ones(100000, np.float32))
    node = helper.make_node("MatMul", ["column", "row"], ["outer"], name="outer_product")
    inputs, outputs = [tensor("column", [100000, 1])], [tensor("outer", ["a", "b"])]
    model = save_model(tmp_path / "mm.onnx", [node], inputs, outputs, [row])
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 5, "mm.onnx", "tensor 'outer'", "MatMul node 'outer_product'", "37.3 GiB")


def test_an_initializer_too_big_for_memory_is_refused_before_reading_it(tmp_path, capsys, eight_gib):
    count = 25 << 30  # 100 GiB of float32, in a sparse external data file
    with open(tmp_path / "w.bin", "wb") as data:
        data.truncate(count * 4)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[count])
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    node = helper.make_node("Add", ["x", "w"], ["y"])
    model = save_model(tmp_path / "w.onnx", [node], [tensor("x", [count])], [tensor("y", [count])], [weight])
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 3, "w.onnx", "tensor 'w'", "100.0 GiB")


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory"])
def test_a_model_that_is_not_a_regular_file_is_refused_before_reading(tmp_path, capsys, kind):
    if kind == "fifo":
        path = tmp_path / "m.onnx"
        os.mkfifo(path)  # reading it would block forever
    elif kind == "directory":
        path = tmp_path / "m.onnx"
        path.mkdir()
    else:
        path = tmp_path / "zero.onnx"
        path.symlink_to("/dev/zero")  # reading it would never end
    code, err = run_cli(capsys, *BUILD, str(path), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 3, str(path), "not a regular file")


def test_a_constant_of_shape_asking_for_too_much_is_refused_before_shape_inference(
    tmp_path, capsys, eight_gib
):
    shape = helper.make_tensor("dims", TensorProto.INT64, [1], [747324309508])  # found by the fuzz test
    nodes = [
        helper.make_node("ConstantOfShape", ["dims"], ["zeros"], name="fill"),
        helper.make_node("Add", ["x", "zeros"], ["y"], name="add"),
    ]
    model = save_model(tmp_path / "c.onnx", nodes, [tensor("x", [1])], [tensor("y", ["n"])], [shape])
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(tmp_path / "o"))
    assert_clean(code, err, 5, "c.onnx", "ConstantOfShape node 'fill'")
