"""--executor ray on a local Ray cluster: the same bundles, byte for byte, as the local executor, and
the cache shared through a directory."""

from __future__ import annotations

import pytest
import ray
from release_helpers import conv_model

import edgec


@pytest.fixture
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_bundles_equal_local_bundles(tmp_path, ray_cluster):
    model = conv_model(tmp_path / "m.onnx", 4)
    common = {"models": [model], "targets": ["jetson-nano"], "precisions": ["fp32", "fp16"], "samples": 2}
    local = edgec.build_matrix(**common, output=tmp_path / "local", jobs=2, cache=False)
    cache = edgec.CacheConfig(root=tmp_path / "shared-cache")
    remote = edgec.build_matrix(**common, output=tmp_path / "ray", executor="ray", cache=cache)
    assert local.exit_code == remote.exit_code == 0
    assert [c.cache for c in remote.cells] == ["miss", "miss"]
    assert [c.manifest_sha256 for c in remote.cells] == [c.manifest_sha256 for c in local.cells]
    again = edgec.build_matrix(**common, output=tmp_path / "ray2", executor="ray", cache=cache)
    assert [c.cache for c in again.cells] == ["hit", "hit"]
    assert [c.manifest_sha256 for c in again.cells] == [c.manifest_sha256 for c in local.cells]
