"""edgec.data.samples: seeded random inputs, samples of an .npz or a Dataset (each a Dataset), and the
samples kept from the passes."""

from __future__ import annotations

import numpy as np

from edgec.data.samples import (
    dataset_samples,
    load_samples,
    random_samples,
    reserved,
    unreserved,
)
from edgec.ir.graph import Graph, Layout


def _graph() -> Graph:
    graph = Graph("g")
    graph.add_input("x", np.float32, (1, 3), Layout.NONE)
    graph.add_input("ids", np.int64, (1, 2), Layout.NONE)
    graph.add_input("mask", np.bool_, (), Layout.NONE)
    return graph


def test_random_samples_are_seeded_and_typed() -> None:
    first, again = random_samples(_graph().inputs, 4, 7), random_samples(_graph().inputs, 4, 7)
    assert first.source == "random, seed 7" and first.indices is None and len(first) == 4
    assert first.describe() == {"source": "random, seed 7", "count": 4, "indices": None}
    for a, b in zip(first.samples(), again.samples(), strict=True):
        assert all(np.array_equal(a[name], b[name]) for name in a)
    feed = first.sample(0)
    assert (feed["x"].dtype, feed["x"].shape) == (np.float32, (1, 3))
    assert (feed["ids"].dtype, feed["mask"].dtype, feed["mask"].shape) == (np.int64, np.bool_, ())
    assert first.arrays["x"].shape == (4, 1, 3) and first.arrays["mask"].shape == (4,)
    assert first.arrays["x"].min() >= -3.0 and first.arrays["x"].max() <= 3.0
    assert set(first.arrays["ids"].ravel()) <= {0, 1}
    other = random_samples(_graph().inputs, 1, 8).sample(0)
    assert not np.array_equal(other["x"], feed["x"])


def test_random_samples_are_drawn_sample_by_sample_input_by_input() -> None:
    rng = np.random.default_rng(3)
    expected = []
    for _ in range(2):
        x = np.clip(rng.standard_normal((1, 3)), -3.0, 3.0).astype(np.float32)
        ids = rng.integers(0, 2, (1, 2))
        mask = rng.integers(0, 2, ()).astype(bool)
        expected.append({"x": x, "ids": ids, "mask": mask})
    drawn = random_samples(_graph().inputs, 2, 3, "described")
    assert drawn.source == "described"
    for got, want in zip(drawn.samples(), expected, strict=True):
        assert all(np.array_equal(got[name], want[name]) for name in want)


def test_load_samples_keeps_order_and_positions(tmp_path) -> None:
    graph = Graph("g")
    graph.add_input("x", np.float32, (1, 2), Layout.NONE)
    np.savez(tmp_path / "s.npz", x=np.arange(6, dtype=np.float32).reshape(3, 1, 2))
    samples = load_samples(tmp_path / "s.npz", graph.inputs)
    assert [feed["x"].tolist() for feed in samples.samples()] == [[[0, 1]], [[2, 3]], [[4, 5]]]
    assert samples.describe() == {"source": "s.npz", "count": 3, "indices": {"first": 0, "last": 2}}


def test_every_fourth_sample_is_reserved() -> None:
    feeds = [{"x": np.array(i)} for i in range(10)]
    assert [int(f["x"]) for f in reserved(feeds, 4)] == [3, 7]
    assert [int(f["x"]) for f in unreserved(feeds, 4)] == [0, 1, 2, 4, 5, 6, 8, 9]
    assert reserved(feeds, 0) == [] and len(unreserved(feeds, 0)) == 10


def test_dataset_samples_take_the_first_and_name_their_positions() -> None:
    data = random_samples(_graph().inputs, 5, 0)
    taken = dataset_samples(data, 3, "held out", start=10)
    assert len(taken) == 3 and np.array_equal(taken.sample(2)["x"], data.sample(2)["x"])
    assert taken.describe()["indices"] == {"first": 10, "last": 12}
    assert taken.source.endswith("(held out)")
    assert len(dataset_samples(data, 9, "all")) == 5
