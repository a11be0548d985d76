"""Calibration/validation data: the preprocessing spec, image directories, arrays, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgec.data.datasets import Dataset, load_dataset
from edgec.data.preprocess import Preprocess, parse_preprocess
from edgec.errors import UsageError
from edgec.ir.graph import Graph, Layout, Value

SPEC = "resize=4x6,scale=1/255,mean=0.5,0.25,0,std=0.5,0.25,1,layout=nchw,color=rgb"


def image_input(shape=(1, 3, 4, 6), name="input") -> Value:
    return Graph().add_input(name, np.float32, shape, Layout.NCHW)


def write_images(folder: Path, colours: list[tuple[int, int, int]], size=(12, 8)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"img{i}.png"
        Image.new("RGB", size, colour).save(path)
        paths.append(path)
    return paths


def test_inline_spec_parses_fractions_and_lists():
    spec = parse_preprocess(SPEC)
    assert spec.resize == (4, 6) and spec.scale == pytest.approx(1 / 255)
    assert spec.mean == (0.5, 0.25, 0.0) and spec.std == (0.5, 0.25, 1.0)
    assert (spec.layout, spec.color, spec.interpolation) == ("nchw", "rgb", "bilinear")
    assert parse_preprocess(spec.text()) == spec


def test_toml_spec_has_the_same_keys(tmp_path):
    path = tmp_path / "pre.toml"
    path.write_text('resize = "4x6"\nscale = "1/255"\nmean = [0.5, 0.25, 0]\nstd = [0.5, 0.25, 1]\n')
    spec = parse_preprocess(str(path))
    assert spec == parse_preprocess("resize=4x6,scale=1/255,mean=0.5,0.25,0,std=0.5,0.25,1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resize=224x224,gamma=2", "unknown preprocessing key"),
        ("scale=one", "not a number"),
        ("std=0.5,0,1", "must not contain 0"),
        ("nchw,resize=224x224", "is not key=value"),
        ("resize=224x224,nchw", "is not a size"),
        ("layout=chw", "choose one of nchw, nhwc"),
        ("crop=224", "is not a size"),
    ],
)
def test_bad_specs_are_refused(text, message):
    with pytest.raises(UsageError, match=message):
        parse_preprocess(text)


def test_images_are_decoded_and_preprocessed(tmp_path):
    write_images(tmp_path / "imgs", [(255, 0, 128), (0, 255, 255)])
    data = load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC))
    stack = data.arrays["input"]
    assert stack.shape == (2, 1, 3, 4, 6) and stack.dtype == np.float32
    np.testing.assert_allclose(
        stack[0, 0, :, 0, 0], [(1 - 0.5) / 0.5, (0 - 0.25) / 0.25, 128 / 255], rtol=1e-6
    )
    np.testing.assert_allclose(stack[1, 0, :, 2, 3], [-1.0, 3.0, 1.0], rtol=1e-6)
    assert data.labels is None and data.preprocess is not None and data.preprocess.layout == "nchw"


def test_layout_and_size_default_to_the_model_input(tmp_path):
    write_images(tmp_path / "imgs", [(10, 20, 30)])
    nhwc = Graph().add_input("x", np.float32, (1, 5, 7, 3), Layout.NONE)
    data = load_dataset(tmp_path / "imgs", [nhwc], parse_preprocess("scale=1"))
    assert data.arrays["x"].shape == (1, 1, 5, 7, 3)
    np.testing.assert_allclose(data.arrays["x"][0, 0, 2, 3], [10, 20, 30])
    assert data.preprocess == Preprocess(resize=(5, 7), layout="nhwc")


def test_shorter_side_resize_and_centre_crop(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, 10:] = 255  # black left half, white right half
    Image.fromarray(image).save(folder / "a.png")
    spec = parse_preprocess("resize=4,crop=4x4,interpolation=nearest,color=gray,scale=1/255")
    data = load_dataset(folder, [image_input((1, 1, 4, 4))], spec)
    assert data.arrays["input"].shape == (1, 1, 1, 4, 4)
    # 10x20 -> 4x8 (shorter side 4) -> columns 2..5 of 8: two black, two white
    assert data.arrays["input"][0, 0, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_labels_file_gives_one_label_per_image(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)] * 3)
    (tmp_path / "imgs" / "labels.txt").write_text("# name label\nimg0.png 7\nimg1.png 2\nimg2.png 7\n")
    data = load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC))
    assert data.labels.tolist() == [7, 2, 7]


def test_missing_label_names_the_image(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)] * 2)
    (tmp_path / "imgs" / "labels.txt").write_text("img0.png 1\n")
    with pytest.raises(UsageError, match=r"img1\.png"):
        load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC))


def test_too_few_samples_is_an_error_with_the_counts(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)] * 3)
    with pytest.raises(UsageError, match=r"has 3 sample.*fewer than the 5 asked for"):
        load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC), count=5)
    assert len(load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC), count=2)) == 2


def test_unreadable_image_is_named(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)])
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(UsageError, match=r"broken\.jpg"):
        load_dataset(tmp_path / "imgs", [image_input()], parse_preprocess(SPEC))


def test_spec_that_does_not_fit_the_input_says_what_to_change(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)])
    with pytest.raises(UsageError, match=r"makes 4x6 images.*\[1, 3, 8, 8\].*resize="):
        load_dataset(tmp_path / "imgs", [image_input((1, 3, 8, 8))], parse_preprocess(SPEC))


def test_images_need_a_single_image_input(tmp_path):
    write_images(tmp_path / "imgs", [(0, 0, 0)])
    with pytest.raises(UsageError, match="single-input models"):
        load_dataset(tmp_path / "imgs", [image_input(), image_input(name="b")], parse_preprocess(SPEC))


def test_empty_or_missing_data_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        load_dataset(tmp_path / "empty", [image_input()])
    with pytest.raises(UsageError, match="does not exist"):
        load_dataset(tmp_path / "nope", [image_input()])


def test_npz_by_input_name_single_or_stacked_with_labels(tmp_path):
    a = Graph().add_input("a", np.float32, (1, 4), Layout.NONE)
    b = Graph().add_input("b", np.int64, (2,), Layout.NONE)
    np.savez(tmp_path / "d.npz", a=np.ones((5, 1, 4)), b=np.zeros((5, 2)), labels=np.arange(5))
    data = load_dataset(tmp_path / "d.npz", [a, b])
    assert len(data) == 5 and data.arrays["a"].dtype == np.float32 and data.arrays["b"].dtype == np.int64
    assert data.labels.tolist() == [0, 1, 2, 3, 4]
    assert data.sample(2)["a"].shape == (1, 4)
    np.savez(tmp_path / "one.npz", a=np.ones((1, 4)), b=np.zeros(2))
    assert len(load_dataset(tmp_path / "one.npz", [a, b])) == 1


def test_npz_errors_name_the_input_and_shapes(tmp_path):
    a = Graph().add_input("a", np.float32, (1, 4), Layout.NONE)
    np.savez(tmp_path / "wrong.npz", a=np.ones((5, 1, 3)))
    with pytest.raises(UsageError, match=r"input 'a' has shape \[5, 1, 3\], expected \[1, 4\]"):
        load_dataset(tmp_path / "wrong.npz", [a])
    np.savez(tmp_path / "other.npz", x=np.ones((1, 4)))
    with pytest.raises(UsageError, match=r"lacks input\(s\) \['a'\]"):
        load_dataset(tmp_path / "other.npz", [a])
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(UsageError, match=r"cannot read .*bad\.npz"):
        load_dataset(tmp_path / "bad.npz", [a])
    np.savez(tmp_path / "labels.npz", a=np.ones((2, 1, 4)), labels=np.array([0.5, 1.5]))
    with pytest.raises(UsageError, match="integer label"):
        load_dataset(tmp_path / "labels.npz", [a])


def test_npy_for_one_input_and_a_directory_of_npz(tmp_path):
    a = Graph().add_input("a", np.float32, (1, 4), Layout.NONE)
    np.save(tmp_path / "x.npy", np.ones((3, 1, 4)))
    assert len(load_dataset(tmp_path / "x.npy", [a])) == 3
    folder = tmp_path / "parts"
    folder.mkdir()
    np.savez(folder / "p0.npz", a=np.zeros((2, 1, 4)))
    np.savez(folder / "p1.npz", a=np.ones((3, 1, 4)))
    data = load_dataset(folder, [a])
    assert len(data) == 5 and data.arrays["a"][:, 0, 0].tolist() == [0, 0, 1, 1, 1]


def test_stacked_feeds_keep_each_sample_and_rows_keep_their_positions():
    feeds = [{"x": np.full((1, 2), i, np.float32), "n": np.array(i, np.int64)} for i in range(4)]
    data = Dataset.stack(feeds, "feeds")
    assert data.arrays["x"].shape == (4, 1, 2) and data.arrays["n"].shape == (4,)
    assert all(np.array_equal(data.sample(i)[k], feeds[i][k]) for i in range(4) for k in feeds[i])
    assert data.sample(1)["n"].shape == () and data.describe()["indices"] is None
    labelled = Dataset(data.arrays, "feeds", np.arange(4), indices=range(10, 14))
    middle = labelled.rows(1, 3)
    assert middle.labels.tolist() == [1, 2] and middle.sample(0)["n"] == 1
    assert middle.describe() == {"source": "feeds", "count": 2, "indices": {"first": 11, "last": 12}}
    assert len(Dataset.stack([], "none")) == 0
