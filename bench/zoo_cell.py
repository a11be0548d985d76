"""One cell of the conformance zoo: build a model for a target at a precision, measure the artifact.

    python bench/zoo_cell.py MODEL TARGET PRECISION --work DIR [--calibration N] [--validation N]
    python bench/zoo_cell.py MODEL ort-quantize-static int8 --work DIR ...

Builds as ``edgec build`` does (``edgec.pipeline.build``, accuracy check on, the held-out
inputs as ``--sample-data``, the calibration inputs as ``--calibration-data``), and runs the
artifact (the backend's own runner: LiteRT for .tflite, ONNX Runtime for the ONNX artifacts) on
the held-out inputs. Prints one JSON line: status (built / refused / failed), exit code, message,
build seconds, per-output cosine over all held-out inputs against the input model under ONNX
Runtime, and for classifiers top-1 agreement. ``ort-quantize-static`` is ONNX Runtime's own
``quantize_static`` (QDQ, per-channel, MinMax) on the same calibration inputs, for comparison.
Run by bench/zoo.py, one subprocess per cell.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import zoo_data
from zoo_measure import feeds_of, measure_build, metrics, reference_outputs
from zoo_models import ZooModel, find, model_path

ORT_QUANTIZE = "ort-quantize-static"


def data_files(
    model: ZooModel, path: Path, work: Path, calibration: int, validation: int
) -> tuple[Path, Path]:
    """The calibration and held-out .npz files (``[N, *input shape]`` stacks), made once per model."""
    files = []
    for split, count in (("calibration", calibration), ("validation", validation)):
        file = work / "data" / f"{model.name}-{split}-{count}.npz"
        if not file.is_file():
            file.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz", delete=False) as handle:
                np.savez(handle, **zoo_data.stack(zoo_data.samples(model, path, split, count)))
            Path(handle.name).replace(file)
        files.append(file)
    return files[0], files[1]


def build_cell(model: ZooModel, path: Path, target: str, precision: str, args: argparse.Namespace) -> dict:
    calibration, validation = data_files(model, path, args.work, args.calibration, args.validation)
    output = args.work / "bundles" / f"{model.name}-{target.replace(':', '-')}-{precision}"
    return measure_build(model, path, target, precision, validation, calibration, output)


class _Reader:
    """ONNX Runtime's CalibrationDataReader over the calibration feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> Mapping[str, np.ndarray] | None:
        return next(self._feeds, None)


def ort_quantize_cell(model: ZooModel, path: Path, args: argparse.Namespace) -> dict:
    """ONNX Runtime's quantize_static (QDQ, per-channel weights, MinMax) on the same calibration data."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    calibration, validation = data_files(model, path, args.work, args.calibration, args.validation)
    out = args.work / "bundles" / f"{model.name}-{ORT_QUANTIZE}.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        quantize_static(
            str(path),
            str(out),
            _Reader(feeds_of(calibration)),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
    except Exception as exc:
        return {"status": "failed", "code": 1, "message": f"{type(exc).__name__}: {exc}", "seconds": 0.0}
    seconds = round(time.perf_counter() - start, 1)
    feeds = feeds_of(validation)
    result = {"status": "built", "code": 0, "message": "", "seconds": seconds}
    return result | metrics(model, reference_outputs(path, feeds), reference_outputs(out, feeds))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("target", help="target name, NAME:RUNTIME for a group's runtime, or " + ORT_QUANTIZE)
    parser.add_argument("precision")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--validation", type=int, default=32)
    args = parser.parse_args()
    model = find(args.model)
    path = model_path(model)
    if args.target == ORT_QUANTIZE:
        result = ort_quantize_cell(model, path, args)
    else:
        result = build_cell(model, path, args.target, args.precision, args)
    print(json.dumps({"model": model.name, "target": args.target, "precision": args.precision} | result))


if __name__ == "__main__":
    main()
