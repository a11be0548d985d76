"""The build cache: what its key covers, restores, --no-cache, LRU eviction."""

from __future__ import annotations

import os
import re
from dataclasses import replace

import numpy as np
from release_helpers import conv_model, run_json

from edgec.cache import BuildCache, cache_key
from edgec.pipeline import BuildOptions
from edgec.quantization.build import QuantizationOptions
from edgec.resources import resource_path
from edgec.targets import load_catalogue


def _key(options: BuildOptions) -> str:
    return cache_key(options, load_catalogue(options.targets_files).select(options.target, options.runtime))


def test_key_covers_model_bytes_data_and_options_but_not_the_output(tmp_path):
    model = conv_model(tmp_path / "m.onnx", 4)
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=np.zeros((2, 1, 3, 16, 16), np.float32))
    base = BuildOptions(
        model=model,
        target="onnxruntime-cpu",
        precision="int8",
        quantization=QuantizationOptions(calibration_data=calibration),
    )
    key = _key(base)
    assert _key(replace(base, output=tmp_path / "elsewhere", force=True)) == key
    assert _key(replace(base, precision="fp32")) != key
    assert _key(replace(base, samples=3)) != key
    assert _key(replace(base, target="rpi4")) != key
    np.savez(calibration, x=np.ones((2, 1, 3, 16, 16), np.float32))
    changed_data = _key(base)
    assert changed_data != key
    data = bytearray(model.read_bytes())
    data[-5] ^= 1
    model.write_bytes(bytes(data))
    assert _key(base) not in (key, changed_data)


def _catalogue_entry(name: str, bandwidth: int) -> str:
    """The bundled onnxruntime-cpu entry renamed ``name``, with another memory bandwidth."""
    text = resource_path("targets.toml").read_text(encoding="utf-8")
    start = text.index("[targets.onnxruntime-cpu]")
    entry = text[start:].replace("targets.onnxruntime-cpu", f"targets.{name}")
    return re.sub(r"memory_bandwidth_gbs = \d+", f"memory_bandwidth_gbs = {bandwidth}", entry)


def test_key_covers_the_targets_catalogue_entry(tmp_path):
    model = conv_model(tmp_path / "m.onnx", 4)
    extra = tmp_path / "targets.toml"
    extra.write_text(_catalogue_entry("my-cpu", 10))
    options = BuildOptions(model=model, target="my-cpu", targets_files=(extra,))
    first = _key(options)
    extra.write_text(_catalogue_entry("my-cpu", 20))
    assert _key(options) != first


def test_hit_restores_the_same_bytes_and_no_cache_builds(tmp_path, capsys):
    model = conv_model(tmp_path / "m.onnx", 4)
    argv = ["build", str(model), "-t", "jetson-nano", "--samples", "2"]
    code, miss = run_json([*argv, "-o", str(tmp_path / "a")], capsys)
    assert code == 0 and miss["cache"] == "miss"
    code, hit = run_json([*argv, "-o", str(tmp_path / "b")], capsys)
    assert code == 0 and hit["cache"] == "hit"
    assert hit["manifest_sha256"] == miss["manifest_sha256"]
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    code, off = run_json([*argv, "-o", str(tmp_path / "c"), "--no-cache"], capsys)
    assert code == 0 and off["cache"] == "off" and off["manifest_sha256"] == miss["manifest_sha256"]
    code, _ = run_json([*argv, "-o", str(tmp_path / "b")], capsys)
    assert code == 8  # a hit never overwrites an existing bundle without --force


def test_eviction_drops_least_recently_used_entries(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(b"x" * 1000)
    cache = BuildCache(tmp_path / "cache", max_bytes=2500)
    for i, key in enumerate(("a" * 64, "b" * 64)):
        cache.store(key, bundle, {})
        entry = tmp_path / "cache" / key[:2] / key / "entry.json"
        os.utime(entry, (1000 + i, 1000 + i))
    assert cache.lookup("a" * 64) is not None  # a is now the most recently used
    cache.store("c" * 64, bundle, {})
    assert cache.lookup("b" * 64) is None
    assert cache.lookup("a" * 64) is not None and cache.lookup("c" * 64) is not None
