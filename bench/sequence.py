"""Recurrent models on TFLite: .tflite op count against the ONNX graph's nodes, conversion time
against CNNs, single-thread latency against ONNX Runtime; the fused LSTM against the unrolled one.

    python bench/sequence.py [--crnn FILE] [--vad FILE] [--models DIR] [--repeat N] [--rounds R]

The CRNN (ddddocr 1.6.1 ``common.onnx``, 1x1x64x256) and the Silero VAD (silero-vad 6.2.0
``silero_vad_16k_op15.onnx``, one 512-sample chunk, state 2x1x128) default to the cache
tests/wheel_models.py fills (``~/.cache/edgec-zoo``). Each is converted as `edgec build` makes it
for rpi4 at fp32, once with the LSTM as TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM where edgec
uses it and once with every LSTM unrolled (edgec's lowering before the fused op); the CNNs of
bench/tflite.py (EfficientNet-Lite0, YOLOX) are converted the same way for the conversion-time
comparison. Latency: the median single-thread call under the LiteRT interpreter (XNNPACK), as a
ratio to ONNX Runtime running the input model on the same input, timed in alternating rounds.
Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
from tflite import alternating, device_call, fp32_model

from edgec.backends.tflite import lowering_recurrent
from edgec.backends.tflite.converter import import_tensorflow
from edgec.backends.tflite.flatbuffer import read_model
from edgec.backends.tflite.runner import LiteRTRunner
from edgec.runtime import run, session

CACHE = Path.home() / ".cache" / "edgec-zoo"
CRNN = CACHE / "ddddocr-1.6.1" / "ddddocr" / "common.onnx"
VAD = CACHE / "silero-vad-6.2.0" / "silero_vad" / "data" / "silero_vad_16k_op15.onnx"
SHAPES = {"crnn": {"input1": (1, 1, 64, 256)}, "vad": {"input": (1, 512), "state": (2, 1, 128)}}
CNNS = {"efficientnet_lite0": {}, "yolox_det": {}}


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        v.name: (rng.standard_normal(v.shape) if v.dtype.kind == "f" else np.full(v.shape, 16000)).astype(
            v.dtype
        )
        for v in graph.inputs
    }


def _line(name: str, path: Path, data: bytes, seconds: float) -> str:
    ops = read_model(data).op_names()
    lstm = ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM")
    nodes = len(onnx.load(path).graph.node)
    return f"  {name}: {len(ops)} ops ({lstm} fused LSTM) for {nodes} ONNX nodes, convert {seconds:.1f} s"


def bench_recurrent(name: str, path: Path, rounds: int, repeat: int) -> None:
    shapes = SHAPES[name]
    graph, fused, fused_seconds = fp32_model(path, shapes)
    with mock.patch.object(lowering_recurrent, "fusable", lambda *args: False):
        _, unrolled, unrolled_seconds = fp32_model(path, shapes)
    feeds = _feeds(graph)
    reference = session(path, threads=1)
    calls: dict[str, Callable[[], object]] = {
        "ort": lambda: run(reference, feeds),
        "fused": device_call(LiteRTRunner(fused, graph), feeds),
        "unrolled": device_call(LiteRTRunner(unrolled, graph), feeds),
    }
    seconds = alternating(calls, rounds, repeat)
    ort = seconds["ort"]
    print(f"{name} ({path.name}):")
    print(_line("edgec", path, fused, fused_seconds))
    print(_line("unrolled", path, unrolled, unrolled_seconds))
    print(
        f"  latency: ONNX Runtime {ort * 1e3:.2f} ms, edgec {seconds['fused'] * 1e3:.2f} ms "
        f"(/ORT {seconds['fused'] / ort:.2f}), unrolled {seconds['unrolled'] * 1e3:.2f} ms "
        f"(/ORT {seconds['unrolled'] / ort:.2f})",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crnn", type=Path, default=CRNN)
    parser.add_argument("--vad", type=Path, default=VAD)
    parser.add_argument(
        "--models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models"
    )
    parser.add_argument("--repeat", type=int, default=10, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    import_tensorflow()
    for name, path in (("crnn", args.crnn), ("vad", args.vad)):
        bench_recurrent(name, path, args.rounds, args.repeat)
    for name, shapes in CNNS.items():
        path = args.models / f"{name}.onnx"
        _, data, seconds = fp32_model(path, shapes)
        size = sum(t.nbytes for t in read_model(data).tensors if t.constant) / 1e6
        print(
            f"CNN {name}: {len(read_model(data).ops)} ops, {size:.1f} MB of weights, convert {seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
