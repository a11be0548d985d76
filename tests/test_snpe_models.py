"""Every shared model against every Snapdragon SoC and runtime: it builds, or the check names the nodes."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.backends.snpe import BACKEND
from edgec.backends.snpe.runtimes import QUANTIZED
from edgec.data.samples import random_samples
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.plugin import BuildRequest
from edgec.targets import load_catalogue

MODELS = {"efficientnet_lite0": {}, "ppocr_mobile_v2_cls": {"x": (1, 3, 48, 192)}, "yolox_det": {}}
TARGETS = [t for t in load_catalogue().values() if t.backend == "snpe"]


@pytest.fixture(scope="module", params=sorted(MODELS))
def ready(request, shared_models):
    graph = load_model(shared_models / f"{request.param}.onnx", MODELS[request.param], default_batch=1)
    run_passes(graph, [make_spec("cleanup"), *BACKEND.passes(TARGETS[0], TARGETS[0].default_precision)])
    return graph, list(random_samples(graph.inputs, 2, seed=0).samples())


def test_the_catalogue_has_every_soc_and_runtime():
    runtimes = {(t.group, t.hardware["runtime"]) for t in TARGETS}
    assert len(runtimes) == len(TARGETS) == 50


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_builds_for_every_runtime(ready, target, tmp_path):
    graph, samples = ready
    assert BACKEND.check(graph, target) == []
    request = BuildRequest(target, target.default_precision, "m", samples=samples)
    artifact = BACKEND.emit(graph, request, tmp_path)
    out = artifact.runner(samples[0])
    assert list(out) == [v.name for v in graph.outputs]
    assert (tmp_path / "export_dlc.sh").is_file() and (tmp_path / "run_on_device.sh").is_file()
    quantized = target.default_precision in QUANTIZED
    assert (tmp_path / "input_list.txt").is_file() == quantized
    assert artifact.metadata["quantized_dlc"] == quantized
    if quantized:
        simulated = artifact.report["simulated_quantization"]
        assert all(np.isfinite(m["cosine"]) for m in simulated["outputs"].values())
