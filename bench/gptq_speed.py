"""What GPTQ rounding costs an int8 TFLite build of EfficientNet-Lite0, now that it is the default.

    python bench/gptq_speed.py [--calibration 64] [--rows 16384,4096]

Prints, in one process: the seconds of ``gptq_rounding`` at each ``max_rows`` (positions
sampled per layer; 4096 is the default) with the SNR and top-1 agreement of the TFLite-scheme
simulation on 128 crops of the development collection (``collections_int8.DEVELOPMENT``), and
the wall seconds of a whole `edgec build --target rpi4 --precision int8` with and without
`--reconstruct`, and their ratio. Calibration: crops of ``collections_int8.CALIBRATION``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from collections_int8 import CALIBRATION, DEVELOPMENT, crops
from int8_families import IMAGENET, SHARED, normalized

from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.frontend import load_model
from edgec.passes import make_spec, run_passes
from edgec.pipeline import BuildOptions, build
from edgec.quantization import (
    CalibrationConfig,
    Dataset,
    bias_corrections,
    calibrate,
    evaluate,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.build import QuantizationOptions
from edgec.quantization.rounding import RoundingSettings, gptq_rounding

MODEL = SHARED / "efficientnet_lite0.onnx"


def rounding_rows(calibration: np.ndarray, rows: list[int]) -> None:
    graph = load_model(MODEL, {}, default_batch=1)
    run_passes(graph, [make_spec("cleanup"), make_spec("unfuse-activation"), make_spec("layout")])
    cal = Dataset({"input": calibration}, "calibration")
    dev = Dataset({"input": normalized(crops(DEVELOPMENT, 128, 224, 224, seed=3), IMAGENET)}, "development")
    reference = run_dataset(graph, dev)
    ranges = calibrate(graph, cal, CalibrationConfig(method="percentile"), TFLITE_SCHEME)
    for count in rows:
        start = time.perf_counter()
        rounded = gptq_rounding(graph, cal, RoundingSettings(max_rows=count))
        seconds = time.perf_counter() - start
        qdq = quantize_qdq(graph, "all", biases=bias_corrections(graph, ranges, rounded), rounded=rounded)
        logits = evaluate(qdq, dev, reference).outputs["logits"]
        print(
            f"gptq max_rows {count}: {seconds:.1f} s, SNR {logits.snr_db:.2f} dB, top-1 {logits.top1:.1f} %"
        )


def whole_builds(calibration: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cal.npz"
        np.savez(data, input=calibration)
        seconds = {}
        for reconstruct in ("off", "gptq"):
            options = QuantizationOptions(calibration_data=data, reconstruct=reconstruct)
            start = time.perf_counter()
            out = Path(tmp) / f"b{reconstruct}"
            build(BuildOptions(MODEL, "rpi4", out, "int8", verify=False, quantization=options))
            seconds[reconstruct] = time.perf_counter() - start
        print(
            f"whole int8 build: {seconds['off']:.1f} s without GPTQ, {seconds['gptq']:.1f} s with "
            f"(ratio {seconds['gptq'] / seconds['off']:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--rows", default="16384,4096")
    args = parser.parse_args()
    calibration = normalized(crops(CALIBRATION, args.calibration, 224, 224, seed=0), IMAGENET)
    rounding_rows(calibration, [int(r) for r in args.rows.split(",")])
    whole_builds(calibration)


if __name__ == "__main__":
    main()
