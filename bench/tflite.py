"""TFLite backend speed: conversion time, single-thread latency against ONNX Runtime, int8 vs fp32.

    python bench/tflite.py [--models DIR] [--repeat N] [--rounds R] [--skip-int8 NAME ...]

Per model, both made as `edgec build` makes them for rpi4 (runtime XNNPACK): the fp32 .tflite
(passes cleanup, layout) and the int8 .tflite (passes cleanup, unfuse-activation, layout; ranges
from the quantization engine calibrated on its default random inputs, as a build without
--calibration-data). Printed: conversion times (int8: engine calibration + conversion), the XNNPACK
partitions and the ops left to LiteRT's own kernels, the median single-thread latency under the
LiteRT interpreter (default XNNPACK delegate) as ratios to ONNX Runtime running the input model on
the same input, and the int8/fp32 latency and size ratios. A .tflite call is what an app on the
device makes: the input already in the model's stored layout and dtype (NHWC; int8 I/O quantized),
set_tensor, invoke, get_tensor, as an ONNX Runtime call is run() on NCHW float input; the NCHW ->
NHWC transposes of edgec's own accuracy runner are left out. ONNX Runtime, fp32 and int8 are timed in
alternation (``--rounds`` rounds of ``--repeat`` calls each), so a load change on the machine hits
all three alike. Then the wall time of a whole `edgec build` of EfficientNet-Lite0 at int8 for rpi4
(target: under 20 s). Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import median_seconds

from edgec.backends.tflite.backend import BACKEND, recipe_for
from edgec.backends.tflite.converter import convert, import_tensorflow
from edgec.backends.tflite.delegation import xnnpack_delegation
from edgec.backends.tflite.quantization import fake_quant_ranges
from edgec.backends.tflite.representative_data import dataset_feeds
from edgec.backends.tflite.runner import LiteRTRunner, to_stored
from edgec.frontend import load_model
from edgec.ir import Graph
from edgec.passes import make_spec, run_passes
from edgec.quantization.build import QuantizationOptions, quantize_for_build
from edgec.runtime import run, session
from edgec.targets import load_catalogue

MODELS = {
    "efficientnet_lite0": {},
    "ppocr_mobile_v2_cls": {"x": (1, 3, 48, 192)},
    "yolox_det": {},
}
TARGET = "rpi4"


def prepared(path: Path, shapes: dict, precision: str) -> Graph:
    target = load_catalogue().select(TARGET)
    graph = load_model(path, shapes, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), *BACKEND.passes(target, precision)])
    return graph


def fp32_model(path: Path, shapes: dict) -> tuple[Graph, bytes, float]:
    graph = prepared(path, shapes, "fp32")
    start = time.perf_counter()
    data = convert(graph, recipe_for(load_catalogue().select(TARGET), "fp32"), None, path.name)
    return graph, data, time.perf_counter() - start


def int8_model(path: Path, shapes: dict) -> tuple[Graph, bytes, float]:
    target = load_catalogue().select(TARGET)
    graph = prepared(path, shapes, "int8")
    start = time.perf_counter()
    result = quantize_for_build(graph, target, BACKEND, QuantizationOptions(), path)
    feeds = dataset_feeds(graph, result.calibration_data)
    ranges = fake_quant_ranges(graph, result.calibration)
    data = convert(
        graph, recipe_for(target, "int8"), lambda: feeds, path.name, ranges, list(result.float_layers)
    )
    return graph, data, time.perf_counter() - start


def alternating(calls: dict[str, Callable[[], object]], rounds: int, repeat: int) -> dict[str, float]:
    """Median seconds per call of each of ``calls``, timed in ``rounds`` alternating rounds."""
    medians: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            medians[name].append(median_seconds(call, repeat))
    return {name: statistics.median(values) for name, values in medians.items()}


def describe(name: str, data: bytes, seconds: float) -> str:
    delegation = xnnpack_delegation(data)
    left = ", ".join(delegation.left_out) or "none"
    return (
        f"  {name}: convert {seconds:.1f} s, size {len(data) / 1e6:.2f} MB, "
        f"{delegation.partitions} XNNPACK partition(s), ops left to LiteRT kernels: {left}"
    )


def device_call(runner: LiteRTRunner, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    """One inference as an app makes it: inputs prepared once in the stored layout, then set, invoke, get."""
    stored = [to_stored(port, feeds[port.name]) for port in runner.inputs]
    return lambda: runner.invoke_stored(stored)


def bench_model(path: Path, shapes: dict, rounds: int, repeat: int, int8: bool) -> None:
    graph, fp32, fp32_convert = fp32_model(path, shapes)
    feeds = {v.name: np.random.default_rng(0).standard_normal(v.shape).astype(v.dtype) for v in graph.inputs}
    reference = session(path, threads=1)
    runner32 = LiteRTRunner(fp32, graph)
    calls: dict[str, Callable[[], object]] = {
        "ort": lambda: run(reference, feeds),
        "fp32": device_call(runner32, feeds),
    }
    lines = [describe("fp32", fp32, fp32_convert)]
    if int8:
        graph8, int8_data, int8_convert = int8_model(path, shapes)
        runner8 = LiteRTRunner(int8_data, graph8)
        calls["int8"] = device_call(runner8, feeds)
        lines.append(describe("int8", int8_data, int8_convert))
    seconds = alternating(calls, rounds, repeat)
    ort = seconds["ort"]
    latency = (
        f"  latency: ONNX Runtime {ort * 1e3:.2f} ms, fp32 {seconds['fp32'] * 1e3:.2f} ms "
        f"(fp32/ORT {seconds['fp32'] / ort:.2f})"
    )
    if int8:
        latency += (
            f", int8 {seconds['int8'] * 1e3:.2f} ms (int8/ORT {seconds['int8'] / ort:.2f}, "
            f"int8/fp32 {seconds['int8'] / seconds['fp32']:.2f}); "
            f"int8/fp32 size {len(int8_data) / len(fp32):.2f}"
        )
    print("\n".join([f"{path.stem}:", *lines, latency]), flush=True)


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
                TARGET,
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
    parser.add_argument("--repeat", type=int, default=10, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument(
        "--skip-int8", nargs="*", default=[], metavar="NAME", help="models to bench at fp32 only"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    import_tensorflow()
    print(f"TensorFlow import: {time.perf_counter() - start:.1f} s (once per build)")
    for name, shapes in MODELS.items():
        path = args.models / f"{name}.onnx"
        bench_model(path, shapes, args.rounds, args.repeat, name not in args.skip_int8)
    seconds = whole_int8_build(args.models)
    print(f"whole `edgec build` of efficientnet_lite0 for {TARGET} at int8: {seconds:.1f} s (target < 20 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
