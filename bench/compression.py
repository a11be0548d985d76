"""Compression techniques on the digits CNN and EfficientNet-Lite0: size, MACs, accuracy, latency ratios.

    .venv/bin/python bench/compression.py [--skip-efficientnet] [--skip-tflite]

Per technique and combination it prints, relative to the uncompressed model
(after cleanup): dense weight bytes, Deep Compression storage (sparse +
codebook + Huffman, edgec.compression.huffman), MACs, accuracy (digits,
held-out test set) or top-1 agreement with the original (EfficientNet, on
random crops and flips of scikit-image's sample photos), ONNX Runtime CPU
latency, and, when the TFLite backend is installed, the size and latency
of the rpi4 fp32 .tflite built through `edgec build` (run here with LiteRT).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from compression_models import digits_cnn, digits_graph, write_calibration  # noqa: E402
from timing import median_seconds  # noqa: E402

from edgec import backends  # noqa: E402
from edgec.compression.accounting import total_macs, weight_bytes  # noqa: E402
from edgec.compression.calibration import run_all  # noqa: E402
from edgec.compression.huffman import storage_report  # noqa: E402
from edgec.frontend import load_model  # noqa: E402
from edgec.ir import Graph, to_onnx  # noqa: E402
from edgec.passes import make_spec, run_passes  # noqa: E402
from edgec.runtime import run, session  # noqa: E402

EFFICIENTNET = ROOT.parent / "shared" / "models" / "efficientnet_lite0.onnx"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]

Variant = tuple[str, list[tuple[str, dict]]]


def _latency_ms(fn: Callable[[], object], repeats: int) -> float:
    return 1000 * median_seconds(fn, repeats)


def ort_latency(model: onnx.ModelProto, feed: dict[str, np.ndarray], repeats: int) -> float:
    sess = session(model, threads=1)
    return _latency_ms(lambda: run(sess, feed), repeats)


def tflite_numbers(path: Path, work: Path, repeats: int) -> tuple[int, float] | None:
    """(bytes, ms) of the rpi4 fp32 .tflite that `edgec build` makes of the ONNX file at ``path``."""
    if "tflite" not in backends.available():
        return None
    from ai_edge_litert.interpreter import Interpreter

    from edgec.pipeline import BuildOptions, build

    result = build(BuildOptions(model=path, target="rpi4", output=work / path.stem, force=True, verify=False))
    tflite = result.bundle / result.manifest["artifact"]
    interpreter = Interpreter(model_path=str(tflite), num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    return tflite.stat().st_size, _latency_ms(interpreter.invoke, repeats)


def measure_variants(
    base: Graph,
    variants: list[Variant],
    quality: Callable[[Graph], float],
    feed: dict[str, np.ndarray],
    work: Path,
    options: argparse.Namespace,
    repeats: int,
) -> None:
    rows, reference = [], None
    for label, specs in variants:
        graph = copy.deepcopy(base)
        start = time.perf_counter()
        run_passes(graph, [make_spec(name, opts) for name, opts in specs], verify_each=True)
        seconds = time.perf_counter() - start
        model = to_onnx(graph)
        path = work / f"{label.replace(' ', '_').replace('+', 'p').replace('.', '')}.onnx"
        onnx.save(model, path)
        tfl = None if options.skip_tflite else tflite_numbers(path, work, repeats)
        numbers = {
            "dense": weight_bytes(graph),
            "stored": storage_report(graph)["bytes"]["huffman"],
            "macs": total_macs(graph),
            "quality": quality(graph),
            "ort": ort_latency(model, feed, repeats),
            "tfl_bytes": tfl[0] if tfl else None,
            "tfl_ms": tfl[1] if tfl else None,
        }
        reference = reference or numbers
        rows.append((label, numbers, seconds))
    _print(rows, reference)


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.3f}" if value is not None and base else "n/a"


def _print(rows: list, base: dict) -> None:
    header = [
        "technique",
        "dense",
        "stored",
        "fp32/stored",
        "MACs",
        "quality",
        "ORT ms",
        ".tflite",
        "tflite ms",
        "pass s",
    ]
    print("  ".join(f"{h:>12}" if i else f"{h:<34}" for i, h in enumerate(header)))
    for label, n, seconds in rows:
        cells = [
            _ratio(n["dense"], base["dense"]),
            _ratio(n["stored"], base["dense"]),
            f"{base['dense'] / n['stored']:.1f}x",
            _ratio(n["macs"], base["macs"]),
            f"{n['quality']:.4f}",
            _ratio(n["ort"], base["ort"]),
            _ratio(n["tfl_bytes"], base["tfl_bytes"]),
            _ratio(n["tfl_ms"], base["tfl_ms"]),
            f"{seconds:.1f}",
        ]
        print(f"{label:<34}  " + "  ".join(f"{c:>12}" for c in cells))
    print(f"  baseline: ORT {base['ort']:.3f} ms", end="")
    if base["tfl_bytes"]:
        print(
            f", rpi4 fp32 .tflite {base['tfl_bytes']} bytes, {base['tfl_ms']:.3f} ms (LiteRT here, 1 thread)"
        )
    else:
        print(", TFLite backend not installed: no .tflite numbers")


def bench_digits(work: Path, options: argparse.Namespace) -> None:
    digits = digits_cnn()
    calibration = {"calibration": str(write_calibration(digits, work / "digits_calib.npz")), "samples": 256}

    def accuracy(graph: Graph) -> float:
        predicted = [next(iter(o.values())).argmax() for o in run_all(graph, digits.feeds(digits.x_test))]
        return float(np.mean(np.array(predicted) == digits.y_test))

    refit = {"reconstruct": True, **calibration}
    variants: list[Variant] = [
        ("fp32", []),
        ("prune 0.8", [("prune", {"sparsity": 0.8})]),
        ("prune 0.8 + reconstruct", [("prune", {"sparsity": 0.8, **refit})]),
        ("prune 0.85 global", [("prune", {"sparsity": 0.85, "mode": "global"})]),
        ("prune 0.85 global + reconstruct", [("prune", {"sparsity": 0.85, "mode": "global", **refit})]),
        (
            "prune sensitivity (budget top1=1)",
            [("prune", {"sparsity": 0.95, "mode": "sensitivity", **calibration})],
        ),
        ("prune 2:4 + reconstruct", [("prune", {"sparsity": 0.5, "mode": "2of4", **refit})]),
        ("cluster 16", [("cluster", {"clusters": 16})]),
        ("ternary", [("ternary", {})]),
        ("prune-channels 0.3", [("prune-channels", {"ratio": 0.3})]),
        ("prune-channels 0.3 + reconstruct", [("prune-channels", {"ratio": 0.3, **refit})]),
        ("low-rank 0.5", [("low-rank", {"ratio": 0.5})]),
        (
            "deep compression (p.85g+rec+c16+H)",
            [("prune", {"sparsity": 0.85, "mode": "global", **refit}), ("cluster", {"clusters": 16})],
        ),
    ]
    print("\n== digits CNN (scikit-learn digits, 8x8; quality = test accuracy) ==")
    measure_variants(
        digits_graph(), variants, accuracy, digits.feeds(digits.x_test[:1])[0], work, options, 200
    )


def natural_crops(count: int, seed: int) -> np.ndarray:
    """Random 224x224 crops (with flips) of scikit-image's photos, normalized as EfficientNet-Lite0 wants."""
    from skimage import data, transform

    photos = [
        getattr(data, name)()
        for name in ("astronaut", "chelsea", "coffee", "rocket", "cat", "motorcycle_left")
        if hasattr(data, name)
    ]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)][..., :3].astype(np.float32) / 255
        scale = rng.uniform(0.6, 1.0) * min(photo.shape[:2])
        top = rng.integers(0, photo.shape[0] - int(scale) + 1)
        left = rng.integers(0, photo.shape[1] - int(scale) + 1)
        crop = transform.resize(photo[top : top + int(scale), left : left + int(scale)], (224, 224))
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        crops.append(((crop.transpose(2, 0, 1) - MEAN) / STD).astype(np.float32))
    return np.stack(crops)


def bench_efficientnet(work: Path, options: argparse.Namespace) -> None:
    base = load_model(EFFICIENTNET, {}, default_batch=1)
    run_passes(base, [make_spec("cleanup")])
    calibration_path = work / "effnet_calib.npz"
    np.savez(calibration_path, input=natural_crops(16, seed=1)[:, None])
    test = [{"input": crop[None]} for crop in natural_crops(48, seed=2)]
    reference = [o["logits"].argmax() for o in run_all(base, test)]

    def agreement(graph: Graph) -> float:
        return float(
            np.mean([o["logits"].argmax() == r for o, r in zip(run_all(graph, test), reference, strict=True)])
        )

    refit = {"reconstruct": True, "calibration": str(calibration_path), "samples": 16}
    variants: list[Variant] = [
        ("fp32", []),
        ("prune-channels 0.3", [("prune-channels", {"ratio": 0.3})]),
        ("prune-channels 0.3 + reconstruct", [("prune-channels", {"ratio": 0.3, **refit})]),
        ("prune-channels 0.3 incl. residual", [("prune-channels", {"ratio": 0.3, "residual": True})]),
        ("prune-channels 0.3 unrounded", [("prune-channels", {"ratio": 0.3, "multiple": 1})]),
        ("prune 0.5", [("prune", {"sparsity": 0.5})]),
        ("cluster 16", [("cluster", {"clusters": 16})]),
        ("prune 0.5 + cluster 16", [("prune", {"sparsity": 0.5}), ("cluster", {"clusters": 16})]),
        ("low-rank 0.5", [("low-rank", {"ratio": 0.5})]),
    ]
    print("\n== EfficientNet-Lite0 (quality = top-1 agreement with the original on 48 crops) ==")
    measure_variants(base, variants, agreement, test[0], work, options, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-efficientnet", action="store_true")
    parser.add_argument("--skip-tflite", action="store_true", help="ONNX Runtime numbers only")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_digits(Path(tmp), options)
        if not options.skip_efficientnet:
            bench_efficientnet(Path(tmp), options)


if __name__ == "__main__":
    main()
