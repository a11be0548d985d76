"""TFLite backend speed: conversion time, single-thread latency against ONNX Runtime, int8 vs fp32.

    python bench/tflite.py [--models DIR] [--repeat N] [--skip-int8 NAME ...]

Per model: the time of the fp32 and int8 conversions (lowering + TFLiteConverter; int8 includes
calibration on 32 samples), the median single-thread latency of the fp32 and int8 .tflite under
the LiteRT interpreter as ratios to ONNX Runtime running the input model on the same input, and
the int8/fp32 latency and size ratios. Then the wall time of a whole `edgec build` of
EfficientNet-Lite0 at int8 for rpi4 (target: under 20 s). Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import median_seconds

from edgec.backends.tflite.calibration import representative_inputs, stored_feeds
from edgec.backends.tflite.converter import Recipe, convert, import_tensorflow
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.runtime import run, session

MODELS = {
    "efficientnet_lite0": {},
    "ppocr_mobile_v2_cls": {"x": (1, 3, 48, 192)},
    "yolox_det": {},
}


def bench_model(path: Path, shapes: dict, repeat: int, int8: bool) -> None:
    graph = load_model(path, shapes, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("layout")])
    feeds = {v.name: np.random.default_rng(0).standard_normal(v.shape).astype(v.dtype) for v in graph.inputs}
    reference = session(path, threads=1)
    ort_s = median_seconds(lambda: run(reference, feeds), repeat)
    start = time.perf_counter()
    fp32 = convert(graph, Recipe("fp32"), None, path.name)
    fp32_convert = time.perf_counter() - start
    runner32 = LiteRTRunner(fp32, graph)
    fp32_s = median_seconds(lambda: runner32(feeds), repeat)
    line = (
        f"{path.stem}: fp32 convert {fp32_convert:.1f} s, latency {fp32_s * 1e3:.1f} ms "
        f"({fp32_s / ort_s:.2f}x ONNX Runtime {ort_s * 1e3:.1f} ms), size {len(fp32) / 1e6:.2f} MB"
    )
    if int8:
        samples = stored_feeds(graph, representative_inputs(graph, {}))
        start = time.perf_counter()
        q = convert(graph, Recipe("int8"), lambda: samples, path.name)
        q_convert = time.perf_counter() - start
        runner8 = LiteRTRunner(q, graph)
        q_s = median_seconds(lambda: runner8(feeds), repeat)
        line += (
            f"\n  int8 convert {q_convert:.1f} s, latency {q_s * 1e3:.1f} ms "
            f"({q_s / ort_s:.2f}x ONNX Runtime); int8/fp32 latency {q_s / fp32_s:.2f}, "
            f"size {len(q) / len(fp32):.2f}"
        )
    print(line, flush=True)


def whole_int8_build(models: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "edgec",
                "build",
                str(models / "efficientnet_lite0.onnx"),
                "-t",
                "rpi4",
                "--precision",
                "int8",
                "-o",
                str(Path(tmp) / "bundle"),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models"
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--skip-int8", nargs="*", default=[], metavar="NAME", help="models to bench at fp32 only"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    import_tensorflow()
    print(f"TensorFlow import: {time.perf_counter() - start:.1f} s (once per build)")
    for name, shapes in MODELS.items():
        bench_model(args.models / f"{name}.onnx", shapes, args.repeat, name not in args.skip_int8)
    seconds = whole_int8_build(args.models)
    print(f"whole `edgec build` of efficientnet_lite0 for rpi4 at int8: {seconds:.1f} s (target < 20 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
