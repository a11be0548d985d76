"""int8 simulation quality on EfficientNet-Lite0: every calibration method, bias correction and CLE on/off.

    python bench/quantization.py [--models DIR] [--calibration 64] [--validation 512] [--seed 0]
                                 [--min-crop 0.3] [--images astronaut,chelsea,coffee,rocket,motorcycle]
                                 [--schemes tensorrt,tflite] [--methods minmax,...] [--bias off,on]
                                 [--cle off,on] [--reconstruct off,on] [--grids on]

Data: natural photographs from scikit-image's samples (astronaut, chelsea,
coffee, rocket, motorcycle; --images), cut into random square crops (30-100 %
of the shorter side, --min-crop; half of them mirrored), written as PNG files and loaded the
way `edgec build --calibration-data DIR --preprocess SPEC` loads them, with
the preprocessing of ../shared/models/README.md. The calibration crops and
the validation crops come from different random streams and are checked
to be disjoint (no identical crop in both).

Prints, for the TensorRT scheme (symmetric int8, per-channel weights, Q/DQ
placement of REFERENCE A3) and the TFLite scheme (asymmetric int8
activations, every activation quantized), top-1 and top-5 agreement with the
float model and the logits' SNR for each method, with and without bias
correction, with and without cross-layer equalization (column CLE: the
engine's data-aware form, ``equalize_for_calibration`` on the calibration
crops) and with and without GPTQ rounding of the weights on the calibration
crops (column GPTQ, ``edgec.quantization.rounding``), then the best setting
and what its int8 weights alone cost (activations in float);
--schemes/--methods/--bias/--cle/--reconstruct pick a subset of the rows.
The graph is prepared as ``edgec build`` prepares it (``fit_grids``: for the
TensorRT scheme, ReLU6 outputs and other one-sided tensors (judged by the
default method's ranges, for every method's row) centred when bias correction
is on and the image input on its pixel grid; column grid; ``--grids off`` or
``off,on`` to compare without). The model runs once per data set and prepared graph
for the statistics; each setting is one Q/DQ model under ONNX Runtime.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as samples

from edgec.backends.tensorrt.int8 import TENSORRT_SCHEME
from edgec.backends.tflite.quantization import TFLITE_SCHEME
from edgec.frontend import load_model
from edgec.ir import Graph
from edgec.passes import make_spec, run_passes
from edgec.quantization import (
    METHODS,
    CalibrationConfig,
    Dataset,
    QuantScheme,
    Statistics,
    bias_corrections,
    calibrate,
    collect_statistics,
    evaluate,
    load_dataset,
    parse_preprocess,
    quantize_qdq,
    run_dataset,
)
from edgec.quantization.equalization import equalize_for_calibration
from edgec.quantization.grids import GridFit, fit_grids
from edgec.quantization.options import DEFAULT_METHOD
from edgec.quantization.rounding import gptq_rounding

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
PREPROCESS = "resize=224x224,scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw,color=rgb"
SCHEMES = {"tensorrt": TENSORRT_SCHEME, "tflite": TFLITE_SCHEME}


PHOTOGRAPHS = {
    "astronaut": samples.astronaut,
    "chelsea": samples.chelsea,
    "coffee": samples.coffee,
    "rocket": samples.rocket,
    "motorcycle": lambda: samples.stereo_motorcycle()[0],
}


def write_crops(
    images: list[np.ndarray], count: int, seed: int, folder: Path, min_crop: float = 0.3
) -> set[str]:
    """``count`` random square crops (``min_crop``-100 % of the shorter side, half mirrored), 224x224 PNGs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    digests = set()
    for index in range(count):
        image = images[rng.integers(len(images))]
        height, width = image.shape[:2]
        side = int(rng.uniform(min_crop, 1.0) * min(height, width))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = image[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        pixels = Image.fromarray(np.ascontiguousarray(crop)).resize((224, 224), Image.Resampling.BILINEAR)
        pixels.save(folder / f"{index:04d}.png")
        digests.add(hashlib.sha256(pixels.tobytes()).hexdigest())
    return digests


@dataclass
class Prepared:
    """One graph as a build prepares it for a setting, with its statistics and GPTQ rounding."""

    graph: Graph
    fit: GridFit
    statistics: Statistics
    rounded: dict | None = None


class Graphs:
    """Prepared graphs by what tells them apart: CLE, and what ``fit_grids`` did for the setting."""

    def __init__(self, models: Path, calibration: Dataset) -> None:
        self.models, self.calibration = models, calibration
        self.cache: dict[tuple[bool, bool, bool], Prepared] = {}

    def get(self, cle: bool, grids: bool, scheme: QuantScheme, bias: bool) -> Prepared:
        key = (cle, grids and scheme.symmetric, grids and scheme.symmetric and bias)
        if key not in self.cache:
            graph = load_model(self.models / "efficientnet_lite0.onnx", {})
            run_passes(graph, [make_spec("cleanup")])
            if cle:
                equalize_for_calibration(graph, self.calibration)
            config = CalibrationConfig(method=DEFAULT_METHOD, bias_correction=bias)
            fit = fit_grids(graph, scheme, self.calibration, config) if grids else GridFit()
            self.cache[key] = Prepared(graph, fit, collect_statistics(graph, self.calibration))
        return self.cache[key]

    def rounding(self, prepared: Prepared, scheme: QuantScheme) -> dict:
        """GPTQ's integers (the weight scales, and so the rounding, do not depend on the method)."""
        if prepared.rounded is None:
            calibrate(prepared.graph, prepared.statistics, CalibrationConfig(method="minmax"), scheme)
            prepared.rounded = gptq_rounding(prepared.graph, self.calibration)
        return prepared.rounded


def run_setting(
    prepared: Prepared,
    validation,
    reference,
    method: str,
    scheme: QuantScheme,
    bias: bool,
    rounded: dict,
    activations: bool = True,
):
    """One setting's Q/DQ model against the float reference; with ``activations`` False, only the
    weights are quantized (what int8 weights alone cost)."""
    graph = prepared.graph
    calibration = calibrate(graph, prepared.statistics, CalibrationConfig(method=method), scheme)
    prepared.fit.fix(graph)
    corrections = bias_corrections(graph, calibration, rounded) if bias else {}
    if not activations:
        for value in graph.values.values():
            value.quant = value.quant if value.is_constant else None
    qdq = quantize_qdq(graph, scheme.placement, biases=corrections, rounded=rounded)
    return evaluate(qdq, validation, reference).outputs["logits"]


def wilson_interval(percent: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval, in %, of an agreement of ``percent`` % over ``count`` samples."""
    p = percent / 100.0
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z * np.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return 100.0 * (centre - half), 100.0 * (centre + half)


def choices(text: str, known) -> list[str]:
    picked = text.split(",")
    unknown = [name for name in picked if name not in known]
    if unknown:
        raise SystemExit(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return picked


def switch(text: str) -> list[bool]:
    return [{"off": False, "on": True}[word] for word in choices(text, ("off", "on"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=SHARED_MODELS)
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--validation", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-crop", type=float, default=0.3, help="smallest crop side / shorter image side")
    parser.add_argument("--images", default=",".join(PHOTOGRAPHS), help="comma-separated photographs to crop")
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="comma-separated schemes to run")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated calibration methods")
    for flag, default in (("bias", "off,on"), ("cle", "off,on"), ("reconstruct", "off,on"), ("grids", "on")):
        parser.add_argument(f"--{flag}", default=default, help=f"{flag} settings to run: off, on or off,on")
    args = parser.parse_args()

    graph = load_model(args.models / "efficientnet_lite0.onnx", {})
    run_passes(graph, [make_spec("cleanup")])
    spec = parse_preprocess(PREPROCESS)
    with tempfile.TemporaryDirectory() as tmp:
        images = [PHOTOGRAPHS[name]() for name in args.images.split(",")]
        folders = Path(tmp) / "calibration", Path(tmp) / "validation"
        seen = write_crops(images, args.calibration, args.seed, folders[0], args.min_crop)
        held_out = write_crops(images, args.validation, args.seed + 1, folders[1], args.min_crop)
        if seen & held_out:
            raise SystemExit("calibration and validation crops overlap; choose another --seed")
        calibration = load_dataset(Path(tmp) / "calibration", graph.inputs, spec, args.calibration)
        validation = load_dataset(Path(tmp) / "validation", graph.inputs, spec, purpose="validation")
    start = time.perf_counter()
    reference = run_dataset(graph, validation)
    graphs = Graphs(args.models, calibration)
    print(
        f"EfficientNet-Lite0: {len(calibration)} calibration / {len(validation)} validation crops of "
        f"{args.images} ({args.min_crop:.0%}-100 % of the shorter side); "
        f"float reference in {time.perf_counter() - start:.1f} s"
    )
    print(
        f"{'scheme':9} {'method':10} {'bias corr.':10} {'CLE':4} {'GPTQ':4} {'grid':4} {'top-1 %':>8} "
        f"{'top-5 %':>8} {'SNR dB':>7} {'s':>5}"
    )
    results = []
    for scheme_name in choices(args.schemes, SCHEMES):
        scheme = SCHEMES[scheme_name]
        # fit_grids leaves asymmetric schemes alone: their grid column would repeat the same rows.
        grid_settings = switch(args.grids) if scheme.symmetric else [False]
        settings = itertools.product(
            choices(args.methods, METHODS),
            switch(args.bias),
            switch(args.cle),
            switch(args.reconstruct),
            grid_settings,
        )
        for method, bias, cle, gptq, grids in settings:
            start = time.perf_counter()
            prepared = graphs.get(cle, grids, scheme, bias)
            rounded = graphs.rounding(prepared, scheme) if gptq else {}
            m = run_setting(prepared, validation, reference, method, scheme, bias, rounded)
            seconds = time.perf_counter() - start
            results.append((m.top1, m.snr_db, scheme_name, method, bias, cle, gptq, grids))
            columns = " ".join(
                f"{'on' if x else 'off':{w}}" for x, w in ((bias, 10), (cle, 4), (gptq, 4), (grids, 4))
            )
            measured = f"{m.top1:8.1f} {m.top5:8.1f} {m.snr_db:7.2f}"
            print(f"{scheme_name:9} {method:10} {columns} {measured} {seconds:5.1f}", flush=True)
    top1, snr, scheme_name, method, bias, cle, gptq, grids = max(results, key=lambda r: (r[0], r[1]))
    verdict = "meets" if top1 >= 97.0 else "misses"
    low, high = wilson_interval(top1, len(validation))
    print(
        f"best: {scheme_name} {method}, bias correction {'on' if bias else 'off'}, "
        f"CLE {'on' if cle else 'off'}, GPTQ rounding {'on' if gptq else 'off'}, "
        f"grid fit {'on' if grids else 'off'}: "
        f"top-1 agreement {top1:.1f} % (95 % interval {low:.1f}-{high:.1f} % over {len(validation)} crops), "
        f"SNR {snr:.2f} dB ({verdict} the 97 % target)"
    )
    scheme = SCHEMES[scheme_name]
    prepared = graphs.get(cle, grids, scheme, bias)
    rounded = graphs.rounding(prepared, scheme) if gptq else {}
    m = run_setting(prepared, validation, reference, method, scheme, bias, rounded, activations=False)
    alone = f"top-1 {m.top1:.1f} %, SNR {m.snr_db:.2f} dB"
    print(f"the best setting's weights alone in int8 (activations in float): {alone}")
    for index, label in ((4, "bias correction"), (5, "CLE"), (6, "GPTQ rounding"), (7, "grid fit")):
        for enabled in (False, True):
            gains = [r[1] for r in results if r[index] == enabled]
            if gains:
                print(f"mean SNR, {label} {'on ' if enabled else 'off'}: {np.mean(gains):.2f} dB")


if __name__ == "__main__":
    main()
