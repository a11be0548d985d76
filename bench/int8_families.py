"""int8 default builds per model family and target, judged on held-out images.

    python bench/int8_families.py [--models efficientnet_lite0,ppocr_cls,...] [--targets rpi4,jetson-agx-orin]
                                  [--calibration 64] [--validation 200] [--ort-baseline]
                                  [--reconstruct gptq,adaround,off] [--budget cosine=0.005]

For each model and target: an `edgec build --precision int8` with only `--calibration-data`
(an .npz of crops of the calibration collection, ``collections_int8.CALIBRATION``: photographs
and documents; text lines of other words for the OCR models) and the default accuracy check
(no --no-verify); then the artifact (the .tflite under LiteRT, the TensorRT Q/DQ ONNX under
ONNX Runtime) against the input model under ONNX Runtime on crops of the validation
collection (other photographs, textures, drawings; documents for the text detector), which
calibration never saw: per output the cosine over the whole set, and for classifiers top-1
agreement. ``--ort-baseline`` adds ONNX Runtime's ``quantize_static`` (per-channel QDQ, int8,
MinMax and Percentile) on the same calibration and validation data for the classifiers.
``--reconstruct`` builds each cell once per rounding of the int8 weights (default: the
build's own default), each row with the 95 % Wilson interval of its top-1 agreement.
``--budget`` passes ``--max-accuracy-drop`` budgets to the builds (mixed precision: the most
sensitive layers stay in float until the build's held-out share meets them); each row then
says how many layers stayed in float.
Build seconds are wall time on this machine (shared; compare within one run only).

Models: ../shared/models (EfficientNet-Lite0, the PaddleOCR direction classifier, YOLOX =
ddddocr's common_det) and rapidocr-onnxruntime 1.4.4's PP-OCRv4 det (DB, sigmoid map) and rec
(SVTR-style, attention and LayerNorm) through the zoo registry (tests/zoo_models.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from collections_int8 import (
    CALIBRATION,
    DOCUMENTS_VALIDATION,
    VALIDATION,
    WORDS_CALIBRATION,
    WORDS_VALIDATION,
    crops,
    text_lines,
)
from zoo_models import find, model_path

from edgec.budget import Budget, parse_budget
from edgec.errors import EdgecError
from edgec.pipeline import BuildOptions, build
from edgec.quantization.build import QuantizationOptions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
IMAGENET = (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))
HALF = (np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5, 0.5]))


def normalized(pixels: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """``[N, H, W, 3]`` uint8 -> ``[N, 1, 3, H, W]`` float32 (N samples of a batch-1 input)."""
    chw = pixels.transpose(0, 3, 1, 2).astype(np.float32)
    if stats is not None:
        mean, std = (s.reshape(1, 3, 1, 1) for s in stats)
        chw = (chw / 255.0 - mean) / std
    return chw.astype(np.float32)[:, None]


@dataclass(frozen=True)
class Model:
    path: Callable[[], Path]
    input: str
    height: int
    width: int
    classifier: bool
    calibration: Callable[[int], np.ndarray]
    validation: Callable[[int], np.ndarray]


def zoo(name: str) -> Callable[[], Path]:
    """A model of the zoo registry (tests/zoo_models.toml), fetched and sha256-checked."""
    return lambda: model_path(find(name))


def image_model(path: Callable[[], Path], name: str, size: tuple[int, int], stats, classifier: bool) -> Model:
    height, width = size
    return Model(
        path,
        name,
        height,
        width,
        classifier,
        lambda n: normalized(crops(CALIBRATION, n, height, width, seed=0), stats),
        lambda n: normalized(crops(VALIDATION, n, height, width, seed=1), stats),
    )


def text_model(path: Callable[[], Path], name: str, size: tuple[int, int], classifier: bool) -> Model:
    height, width = size

    def lines(words: tuple[str, ...], n: int, seed: int) -> np.ndarray:
        rows = text_lines(words, n, height, width, seed)
        flipped = np.random.default_rng(seed).random(n) < 0.5  # the direction classifier's two classes
        rows[flipped] = rows[flipped][:, ::-1, ::-1]
        return normalized(rows, HALF)

    return Model(
        path,
        name,
        height,
        width,
        classifier,
        lambda n: lines(WORDS_CALIBRATION, n, 0),
        lambda n: lines(WORDS_VALIDATION, n, 1),
    )


def detector_validation(n: int) -> np.ndarray:
    """The DB detector: half documents of other words, half the validation collection."""
    docs = crops(DOCUMENTS_VALIDATION, n - n // 2, 256, 256, seed=1)
    return normalized(np.concatenate([docs, crops(VALIDATION, n // 2, 256, 256, seed=1)]), IMAGENET)


MODELS: dict[str, Model] = {
    "efficientnet_lite0": image_model(
        lambda: SHARED / "efficientnet_lite0.onnx", "input", (224, 224), IMAGENET, True
    ),
    "ppocr_cls": text_model(lambda: SHARED / "ppocr_mobile_v2_cls.onnx", "x", (48, 192), True),
    "yolox_ddddocr": image_model(lambda: SHARED / "yolox_det.onnx", "images", (416, 416), None, False),
    "rapidocr_det_v4": Model(
        zoo("ppocrv4_det"),
        "x",
        256,
        256,
        False,
        lambda n: normalized(crops(CALIBRATION, n, 256, 256, seed=0), IMAGENET),
        detector_validation,
    ),
    "rapidocr_rec_v4": text_model(zoo("ppocrv4_rec"), "x", (48, 320), False),
}


def run_tflite(bundle: Path, inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    io = json.loads((bundle / "manifest.json").read_text())["backend_metadata"]["io"]
    interpreter = Interpreter(model_path=str(bundle / "model.tflite"), num_threads=1)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_input_details()}
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    count = len(next(iter(inputs.values())))
    results = []
    for i in range(count):
        for entry, detail in zip(io["inputs"], ins, strict=True):
            array = np.transpose(inputs[entry["name"]][i], entry["permutation_from_input_model"])
            scale, zero = detail["quantization"]
            if np.issubdtype(detail["dtype"], np.integer) and scale:
                array = np.round(array / scale) + zero
            interpreter.set_tensor(details[detail["index"]]["index"], array.astype(detail["dtype"]))
        interpreter.invoke()
        sample = {}
        for entry, detail in zip(io["outputs"], outs, strict=True):
            array = interpreter.get_tensor(detail["index"]).astype(np.float32)
            scale, zero = detail["quantization"]
            if scale:
                array = (array - zero) * scale
            sample[entry["name"]] = np.transpose(array, np.argsort(entry["permutation_from_input_model"]))
        results.append(sample)
    return results


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    count = len(next(iter(inputs.values())))
    return [
        dict(zip(names, session.run(None, {k: v[i] for k, v in inputs.items()}), strict=True))
        for i in range(count)
    ]


def judge(reference: list[dict], candidate: list[dict], classifier: bool) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in reference[0]:
        a = np.concatenate([r[name].ravel() for r in reference]).astype(np.float64)
        b = np.concatenate([c[name].ravel() for c in candidate]).astype(np.float64)
        found[f"cosine:{name}"] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        if classifier:
            top_a = np.array([r[name].reshape(-1).argmax() for r in reference])
            top_b = np.array([c[name].reshape(-1).argmax() for c in candidate])
            found["top1"] = 100.0 * float(np.mean(top_a == top_b))
    return found


def build_and_judge(
    model: Model,
    path: Path,
    target: str,
    calibration: Path,
    validation: dict,
    reference: list,
    out: Path,
    reconstruct: str | None = None,
    budgets: tuple[Budget, ...] = (),
) -> dict:
    shape = {model.input: (1, 3, model.height, model.width)}
    options = BuildOptions(
        model=path,
        target=target,
        output=out,
        precision="int8",
        input_shapes=shape,
        force=True,
        quantization=QuantizationOptions(
            calibration_data=calibration, reconstruct=reconstruct, budgets=budgets
        ),
    )
    row: dict = {}
    start = time.perf_counter()
    try:
        result = build(options)
        row["check"] = "passed"
        row["check_outputs"] = {
            k: v.get("cosine") for k, v in result.report.get("accuracy", {}).get("outputs", {}).items()
        }
    except EdgecError as exc:
        row["check"] = f"exit {exc.exit_code}: {str(exc)[:300]}"
        if exc.exit_code != 7:
            row["seconds"] = round(time.perf_counter() - start, 1)
            return row
        build(BuildOptions(**{**options.__dict__, "verify": False}))
    row["seconds"] = round(time.perf_counter() - start, 1)
    tflite = (out / "model.tflite").exists()
    outputs = run_tflite(out, validation) if tflite else run_onnx(out / "model.onnx", validation)
    row.update(judge(reference, outputs, model.classifier))
    if "top1" in row:
        row["top1_wilson95"] = [round(v, 1) for v in wilson_interval(row["top1"], len(reference))]
    report = json.loads((out / "report.json").read_text()).get("quantization", {})
    if report.get("float_islands"):
        row["float_islands"] = len(report["float_islands"])
    if report.get("float_layers"):
        row["float_layers"] = [entry["layer"] for entry in report["float_layers"]]
    return row


def ort_static(
    path: Path, calibration: np.ndarray, validation: dict, reference: list, name: str, shape, work: Path
) -> dict:
    import onnx
    from onnx import shape_inference
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    model = onnx.load(path)
    for value in model.graph.input:
        if value.name == name:
            for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
                dim.dim_value = size
    fixed = work / "fixed.onnx"
    onnx.save(shape_inference.infer_shapes(model), fixed)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{name: sample} for sample in calibration])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.items, None)

    row = {}
    for method in (CalibrationMethod.MinMax, CalibrationMethod.Percentile):
        out = work / f"ort_{method.name}.onnx"
        quantize_static(
            fixed,
            out,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
        )
        row[f"ort_{method.name}_top1"] = judge(reference, run_onnx(out, validation), True)["top1"]
    return row


def wilson_interval(percent: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval, in %, of an agreement of ``percent`` % over ``count`` samples."""
    p = percent / 100.0
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z * np.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return 100.0 * (centre - half), 100.0 * (centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--targets", default="rpi4,jetson-agx-orin")
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--ort-baseline", action="store_true")
    parser.add_argument("--reconstruct", help="roundings of the int8 weights, e.g. gptq,adaround,off")
    parser.add_argument("--budget", action="append", default=[], help="--max-accuracy-drop, repeatable")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for key in args.models.split(","):
            model = MODELS[key]
            path = model.path()
            calibration = model.calibration(args.calibration)
            np.savez(work / f"{key}.npz", **{model.input: calibration})
            validation = {model.input: model.validation(args.validation)}
            reference = run_onnx(path, validation)
            if args.ort_baseline and model.classifier:
                row = ort_static(
                    path,
                    calibration,
                    validation,
                    reference,
                    model.input,
                    (1, 3, model.height, model.width),
                    work,
                )
                rows.append({"model": key, "target": "ort quantize_static", **row})
                print(json.dumps(rows[-1]), flush=True)
            for target in args.targets.split(","):
                for mode in args.reconstruct.split(",") if args.reconstruct else [None]:
                    out = work / f"{key}-{target}-{mode}"
                    npz = work / f"{key}.npz"
                    budgets = tuple(parse_budget(text) for text in args.budget)
                    row = build_and_judge(model, path, target, npz, validation, reference, out, mode, budgets)
                    rows.append({"model": key, "target": target, "reconstruct": mode or "default", **row})
                    print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
