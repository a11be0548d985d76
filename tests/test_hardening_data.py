"""Issue 19 item 2 (user data): NaN/Inf in --sample-data, --calibration-data and --validation-data is
refused before any pass runs, naming the file, the input and the sample index. Issue 14 item 3 (data
loading): a [N, *input shape without the batch dim] stack is N samples; integer inputs keep their values."""

from __future__ import annotations

import numpy as np
import pytest
from hardening_helpers import assert_clean, conv_model, relu_model, run_cli, save_model, tensor
from onnx import TensorProto, helper

from edgec import pipeline
from edgec.data.datasets import load_arrays, load_dataset
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Layout

BUILD = ("build", "-t", "onnxruntime-cpu")


@pytest.fixture
def no_passes(monkeypatch):
    """Any pass running means the data was not checked first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a pass ran before the data was checked")

    monkeypatch.setattr(pipeline, "run_passes", refuse)


@pytest.mark.parametrize(
    ("option", "extra", "bad"),
    [
        ("--sample-data", (), np.nan),
        ("--calibration-data", ("--precision", "int8"), np.inf),
        ("--validation-data", ("--precision", "int8"), -np.inf),
    ],
)
def test_non_finite_data_is_refused_before_any_pass(tmp_path, capsys, no_passes, option, extra, bad):
    model = conv_model(tmp_path / "m.onnx")
    stack = np.random.default_rng(0).standard_normal((6, 1, 3, 8, 8)).astype(np.float32)
    stack[4, 0, 1, 2, 3] = bad
    np.savez(tmp_path / "data.npz", x=stack)
    code, err = run_cli(
        capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), option, str(tmp_path / "data.npz"), *extra
    )
    assert_clean(code, err, 2, "data.npz", "input 'x'", "sample 4", "NaN or Inf")
    assert not (tmp_path / "out").exists()


def test_values_beyond_float32_are_refused_too(tmp_path, capsys):
    model = relu_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "huge.npz", x=np.array([[[1.0, 2.0, 3.0, 4.0]], [[1e300, 0, 0, 0]]]))
    code, err = run_cli(
        capsys, *BUILD, str(model), "-o", str(tmp_path / "out"), "--sample-data", str(tmp_path / "huge.npz")
    )
    assert_clean(code, err, 2, "huge.npz", "input 'x'", "sample 1", "float32")


def test_a_stack_without_the_batch_dim_is_n_samples(tmp_path):
    x = Graph().add_input("x", np.float32, (1, 3, 4, 4), Layout.NCHW)
    data = np.arange(5 * 3 * 4 * 4, dtype=np.float32).reshape(5, 3, 4, 4)
    np.savez(tmp_path / "stack.npz", x=data)
    dataset = load_arrays(tmp_path / "stack.npz", [x])
    assert len(dataset) == 5
    assert dataset.arrays["x"].shape == (5, 1, 3, 4, 4)
    np.testing.assert_array_equal(dataset.sample(3)["x"][0], data[3])


def test_a_stack_without_the_batch_dim_fills_batches_of_a_batched_input(tmp_path):
    x = Graph().add_input("x", np.float32, (2, 3), Layout.NONE)
    np.savez(tmp_path / "stack.npz", x=np.ones((6, 3), np.float32))
    assert load_arrays(tmp_path / "stack.npz", [x]).arrays["x"].shape == (3, 2, 3)
    np.savez(tmp_path / "odd.npz", x=np.ones((5, 3), np.float32))
    with pytest.raises(UsageError, match=r"\[N x 2, 3\]"):
        load_arrays(tmp_path / "odd.npz", [x])


def test_a_stack_without_the_batch_dim_builds(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx")
    np.savez(tmp_path / "s.npz", x=np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32))
    out = tmp_path / "out"
    code, err = run_cli(capsys, *BUILD, str(model), "-o", str(out), "--sample-data", str(tmp_path / "s.npz"))
    assert code == 0, err
    assert '"samples": 3' in (out / "report.json").read_text()


def _gather_model(path):
    table = helper.make_tensor("table", TensorProto.FLOAT, [5, 2], np.arange(10, dtype=np.float32))
    nodes = [helper.make_node("Gather", ["table", "ids"], ["y"], name="lookup")]
    return save_model(
        path, nodes, [tensor("ids", [1, 3], TensorProto.INT64)], [tensor("y", [1, 3, 2])], [table]
    )


def test_integer_inputs_keep_their_exact_values(tmp_path):
    ids = Graph().add_input("ids", np.int64, (1, 3), Layout.NONE)
    big = np.array([[[2**60, 1, 2]]], dtype=np.int64)
    np.savez(tmp_path / "ids.npz", ids=big)
    np.testing.assert_array_equal(load_arrays(tmp_path / "ids.npz", [ids]).arrays["ids"], big)
    np.savez(tmp_path / "floats.npz", ids=np.array([[0.0, 4.0, 2.0]]))
    assert load_arrays(tmp_path / "floats.npz", [ids]).arrays["ids"].tolist() == [[[0, 4, 2]]]


def test_integer_inputs_refuse_fractions_and_out_of_range_values(tmp_path):
    ids = Graph().add_input("ids", np.int32, (1, 3), Layout.NONE)
    np.savez(tmp_path / "frac.npz", ids=np.array([[0.5, 1.0, 2.0]]))
    with pytest.raises(UsageError, match="fractional"):
        load_arrays(tmp_path / "frac.npz", [ids])
    np.savez(tmp_path / "wide.npz", ids=np.array([[2**40, 1, 2]], dtype=np.int64))
    with pytest.raises(UsageError, match="outside"):
        load_arrays(tmp_path / "wide.npz", [ids])


def test_integer_input_data_builds_with_the_exact_ids(tmp_path, capsys):
    model = _gather_model(tmp_path / "g.onnx")
    np.savez(tmp_path / "ids.npz", ids=np.array([[4, 0, 3], [1, 1, 2]], dtype=np.int64))
    out = tmp_path / "out"
    code, err = run_cli(
        capsys, *BUILD, str(model), "-o", str(out), "--sample-data", str(tmp_path / "ids.npz")
    )
    assert code == 0, err
    assert np.load(out / "sample_input.npz")["ids"].tolist() == [[4, 0, 3]]


def test_a_decompression_bomb_image_is_refused_naming_it(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's guard, scaled down for the test
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "small.png")
    Image.new("RGB", (40, 40)).save(tmp_path / "imgs" / "warn.png")  # 1600 pixels: Pillow only warns
    Image.new("RGB", (100, 100)).save(tmp_path / "imgs" / "bomb.png")  # 10000 pixels: Pillow raises
    x = Graph().add_input("x", np.float32, (1, 3, 8, 8), Layout.NCHW)
    with pytest.raises(UsageError, match=r"image '.*bomb\.png' is too large"):
        load_dataset(tmp_path / "imgs", [x])
    (tmp_path / "imgs" / "bomb.png").unlink()
    with pytest.raises(UsageError, match=r"image '.*warn\.png' is too large"):
        load_dataset(tmp_path / "imgs", [x])
