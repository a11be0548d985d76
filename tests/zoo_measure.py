"""Build a zoo model as ``edgec build`` does and measure its artifact on held-out inputs.

Shared by tests/test_zoo.py and bench/zoo_cell.py. The build runs through
``edgec.pipeline.build`` unchanged; every backend the build loads is wrapped
so that the artifact it emits also runs (its own runner: LiteRT for .tflite,
ONNX Runtime for the ONNX artifacts) on the held-out feeds, whatever the
build's own accuracy check then decides.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from zoo_models import ZooModel

from edgec import backend_registry, runtime
from edgec.errors import EdgecError
from edgec.pipeline import BuildOptions, build
from edgec.quantization.build import QuantizationOptions

# Refusals that happen while planning or loading, before any artifact is emitted.
REFUSED_CODES = {2, 3, 4, 5, 6}
Feeds = list[dict[str, np.ndarray]]
Outputs = list[dict[str, np.ndarray]]


def feeds_of(file: Path) -> Feeds:
    """The samples of an .npz of ``[N, *input shape]`` stacks."""
    arrays = np.load(file)
    count = len(next(iter(arrays.values())))
    return [{name: arrays[name][i] for name in arrays.files} for i in range(count)]


def reference_outputs(path: Path, feeds: Feeds) -> Outputs:
    sess = runtime.session(path, threads=1)
    return [runtime.run(sess, feed) for feed in feeds]


def metrics(model: ZooModel, reference: Outputs, artifact: Outputs) -> dict[str, Any]:
    """Per output: cosine over all held-out inputs together; classifiers: top-1 agreement (first output)."""
    found: dict[str, Any] = {"cosine": {}}
    for name in reference[0]:
        a = np.concatenate([r[name].astype(np.float64).ravel() for r in reference])
        b = np.concatenate([o[name].astype(np.float64).ravel() for o in artifact])
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        found["cosine"][name] = float(a @ b / norms) if norms > 0 else float(np.array_equal(a, b))
    if model.task == "classifier":
        first = next(iter(reference[0]))
        agree = [np.argmax(r[first]) == np.argmax(o[first]) for r, o in zip(reference, artifact, strict=True)]
        found["top1"] = float(np.mean(agree))
    return found


def _recording_load(feeds: Feeds, outputs: Outputs, seen: dict[str, bool]) -> Any:
    """``backend_registry.load`` whose backends run every artifact they emit on ``feeds`` into ``outputs``."""
    original = backend_registry.load

    class Recording:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def emit(self, graph: Any, request: Any, out_dir: Path) -> Any:
            seen["emit"] = True
            artifact = self._inner.emit(graph, request, out_dir)
            if artifact.runner is not None:
                outputs.extend(artifact.runner(feed) for feed in feeds)
            return artifact

    return lambda name, target_name: Recording(original(name, target_name))


def measure_build(
    model: ZooModel,
    path: Path,
    target: str,
    precision: str,
    validation: Path,
    calibration: Path | None,
    output: Path,
) -> dict[str, Any]:
    """Build ``model`` for ``target`` (``NAME`` or ``NAME:RUNTIME``) and measure it on ``validation``.

    status: built, refused (before any artifact, exit 2-6) or failed; code: the exit code edgec
    would return; seconds: the whole build; cosine/top1 when the artifact ran.
    """
    feeds = feeds_of(validation)
    outputs: Outputs = []
    seen = {"emit": False}
    name, _, runtime_name = target.partition(":")
    options = BuildOptions(
        model=path,
        target=name,
        runtime=runtime_name or None,
        precision=precision,
        input_shapes=model.input_shapes(),
        output=output,
        force=True,
        sample_data=validation,
        quantization=QuantizationOptions(calibration_data=calibration if precision == "int8" else None),
    )
    original = backend_registry.load
    backend_registry.load = _recording_load(feeds, outputs, seen)
    result: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        build(options)
        result |= {"status": "built", "code": 0, "message": ""}
    except EdgecError as exc:
        refused = exc.exit_code in REFUSED_CODES and not seen["emit"]
        result |= {"status": "refused" if refused else "failed", "code": exc.exit_code, "message": str(exc)}
    except Exception as exc:
        result |= {"status": "failed", "code": 1, "message": f"internal error: {type(exc).__name__}: {exc}"}
        result["traceback"] = traceback.format_exc(limit=-6)
    finally:
        backend_registry.load = original
    result["seconds"] = round(time.perf_counter() - start, 1)
    if len(outputs) == len(feeds):
        result |= metrics(model, reference_outputs(path, feeds), outputs)
    return result
