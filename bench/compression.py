"""Compression techniques on the digits CNN and EfficientNet-Lite0: size, MACs, held-out accuracy, latency.

    .venv/bin/python bench/compression.py [--skip-efficientnet] [--skip-tflite] [--skip-table]
        [--group cluster|prune|prune-channels] [--method LABEL] [--calibration 32] [--validation 128]
        [--alike 0]

Everything is judged on data that calibrated nothing: the digits test split
(the passes calibrate on the training split), and for EfficientNet-Lite0
crops of scikit-image photos that are not among the calibration photos
(tests/natural_inputs.py: calibration astronaut, rocket, stereo_motorcycle;
validation chelsea, coffee; chosen before any measurement), with 95 %
Wilson intervals. First the issue's bars:

- digits: `edgec build --prune 0.8:global --cluster 16 --precision int8
  --huffman` (onnxruntime-cpu), its storage ratio and the int8 artifact's
  test accuracy against the fp32 model's;
- digits: `--prune 0.9:sensitivity --max-accuracy-drop top1=2`, the sparsity
  reached and its drop on the test split;
- EfficientNet-Lite0: cluster 16, 50 % unstructured sparsity and
  prune-channels 0.2, each data-free (nearest centroid, magnitude, no refit)
  beside the layer-order reconstruction (GPTQ-style assignment, SparseGPT,
  held-out-chosen refit; for prune-channels also the channels chosen by
  their consumers' output error, structured OBS); 50 % also as a share of
  all the weights (`--prune 0.5:global`) at a magnitude threshold's and at
  the sensitivity ranking's per-layer allocation (--method picks settings
  by label).

Then (unless --skip-table), per technique and combination, relative to the
uncompressed model (after cleanup): dense weight bytes, Deep Compression
storage (sparse + codebooks + Huffman, edgec.compression.huffman), MACs,
accuracy, ONNX Runtime CPU latency, and, when the TFLite backend is
installed, the size and latency of the rpi4 fp32 .tflite built through
`edgec build` (run here with LiteRT).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from compression_models import digits_cnn, digits_graph, write_calibration, write_digits_model  # noqa: E402
from natural_inputs import CALIBRATION_PHOTOS, calibration_inputs, crops, held_out_inputs  # noqa: E402
from timing import median_seconds  # noqa: E402

from edgec import backend_registry  # noqa: E402
from edgec.cli import main as edgec_main  # noqa: E402
from edgec.compression.accounting import layer_density, total_macs, weight_bytes  # noqa: E402
from edgec.compression.huffman import storage_report  # noqa: E402
from edgec.compression.pass_inputs import run_all  # noqa: E402
from edgec.frontend import load_model  # noqa: E402
from edgec.ir import Graph, Op, to_onnx  # noqa: E402
from edgec.ir.weight_matrices import groups, weighted_layers  # noqa: E402
from edgec.passes import PassContext, VerifyIR, make_spec, run_passes  # noqa: E402
from edgec.runtime import run, session  # noqa: E402

EFFICIENTNET = ROOT.parent / "shared" / "models" / "efficientnet_lite0.onnx"

Variant = tuple[str, list[tuple[str, dict]]]


def _latency_ms(fn: Callable[[], object], repeats: int) -> float:
    return 1000 * median_seconds(fn, repeats)


def ort_latency(model: onnx.ModelProto, feed: dict[str, np.ndarray], repeats: int) -> float:
    sess = session(model, threads=1)
    return _latency_ms(lambda: run(sess, feed), repeats)


def tflite_numbers(path: Path, work: Path, repeats: int) -> tuple[int, float] | None:
    """(bytes, ms) of the rpi4 fp32 .tflite that `edgec build` makes of the ONNX file at ``path``."""
    if "tflite" not in backend_registry.available():
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
        with PassContext.current().with_instruments(VerifyIR()):
            run_passes(graph, [make_spec(name, opts) for name, opts in specs])
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
    path = write_calibration(digits, work / "digits_calib.npz", len(digits.x_train))
    calibration = {"calibration": str(path), "samples": len(digits.x_train)}

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
        ("cluster 16 + reconstruct", [("cluster", {"clusters": 16, **refit})]),
        ("ternary", [("ternary", {})]),
        ("prune-channels 0.3", [("prune-channels", {"ratio": 0.3})]),
        ("prune-channels 0.3 + reconstruct", [("prune-channels", {"ratio": 0.3, **refit})]),
        ("low-rank 0.5", [("low-rank", {"ratio": 0.5})]),
        (
            "deep compr. p.8g+c16, data-free",
            [("prune", {"sparsity": 0.8, "mode": "global"}), ("cluster", {"clusters": 16})],
        ),
        (
            "deep compr. p.8g+c16, reconstructed",
            [("prune", {"sparsity": 0.8, "mode": "global", **refit}), ("cluster", {"clusters": 16, **refit})],
        ),
    ]
    print("\n== digits CNN (scikit-learn digits, 8x8; quality = test accuracy) ==")
    measure_variants(
        digits_graph(), variants, accuracy, digits.feeds(digits.x_test[:1])[0], work, options, 200
    )


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if total == 0:
        return 0.0, 1.0
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def _share(hits: int, total: int) -> str:
    low, high = wilson(hits, total)
    return f"{100 * hits / total:5.1f} % ({100 * low:.1f}-{100 * high:.1f} %, n={total})"


def _digits_build(work: Path, name: str, *flags: str) -> tuple[Path, dict]:
    """``edgec build`` of the digits CNN for onnxruntime-cpu, calibrated on the whole training split
    (unlabelled), measured on the test split; returns (bundle, report)."""
    digits = digits_cnn()
    model = write_digits_model(digits, work / "digits.onnx")
    np.savez(work / "train.npz", image=digits.x_train[:, None])
    np.savez(work / "test.npz", image=digits.x_test[:, None], labels=digits.y_test)
    out = work / name
    argv = ["build", str(model), "-t", "onnxruntime-cpu", "-o", str(out), "--force", "--no-verify"]
    argv += ["--calibration-data", str(work / "train.npz"), "--calibration-samples", str(len(digits.x_train))]
    argv += ["--validation-data", str(work / "test.npz"), *flags]
    code = edgec_main(argv)
    if code:
        raise SystemExit(f"edgec build {' '.join(flags)} failed with exit code {code}")
    return out, json.loads((out / "report.json").read_text())


def _test_hits(model: Path) -> int:
    digits = digits_cnn()
    sess = session(onnx.load(model), threads=1)
    predicted = [next(iter(run(sess, feed).values())).argmax() for feed in digits.feeds(digits.x_test)]
    return int(np.sum(np.array(predicted) == digits.y_test))


def bench_digits_bars(work: Path) -> None:
    digits = digits_cnn()
    total = len(digits.y_test)
    print("\n== digits CNN: the issue's bars (test split: never calibrates) ==")
    flags = ("--prune", "0.8:global", "--cluster", "16", "--precision", "int8", "--huffman")
    bundle, report = _digits_build(work, "deep", *flags)
    fp32 = _test_hits(work / "digits.onnx")
    artifact = json.loads((bundle / "manifest.json").read_text())["artifact"]
    int8 = _test_hits(bundle / artifact)
    storage = report["compression"]["storage"]
    print(f"  fp32 model: {_share(fp32, total)}")
    print(
        f"  edgec build {' '.join(flags)}: {storage['ratio']:.1f}x smaller weights "
        f"({storage['bytes']['fp32']} -> {storage['bytes']['huffman']} bytes), int8 artifact "
        f"{_share(int8, total)}: {100 * (int8 - fp32) / total:+.2f} points (bar: >= 20x within 1 point)"
    )
    flags = ("--prune", "0.9:sensitivity", "--max-accuracy-drop", "top1=2")
    _, report = _digits_build(work, "sensitivity", *flags)
    (entry,) = report["compression"]["passes"]
    held = entry["after"]["metrics"]["outputs"]["logits"]
    calib = entry["after"]["calibration_metrics"]["outputs"]["logits"]
    print(
        f"  edgec build {' '.join(flags)}: sparsity {entry['after']['sparsity']:.3f} "
        f"(report.json compression.passes[0].after.sparsity); top-1 agreement with fp32 "
        f"{held['top1']:.2f} % on the test split, {calib['top1']:.2f} % on the calibration "
        f"samples; budget met: {entry['budgets'][0]['met']}"
    )


EFFICIENTNET_MODEL = "efficientnet_lite0.onnx"


def _where(graph: Graph) -> str:
    """Sparsity of the depthwise (grouped) layers, of the other convs and of the classifier."""
    kinds: dict[str, list[np.ndarray]] = {"depthwise": [], "conv": [], "fc": []}
    for node in weighted_layers(graph):
        kind = "depthwise" if groups(node) > 1 else "fc" if node.op != Op.CONV else "conv"
        kinds[kind].append(node.const_input(1))
    shares = {k: sum(int(np.sum(w == 0)) for w in v) / sum(w.size for w in v) for k, v in kinds.items() if v}
    return " ".join(f"{kind} {share:.2f}" for kind, share in shares.items())


def bench_efficientnet_bars(options: argparse.Namespace, work: Path) -> None:
    base = load_model(EFFICIENTNET, {}, default_batch=1)
    run_passes(base, [make_spec("cleanup")])
    calibration_path = work / "effnet_calib.npz"
    np.savez(calibration_path, input=calibration_inputs(EFFICIENTNET_MODEL, options.calibration)[:, None])
    validation = [{"input": crop[None]} for crop in held_out_inputs(EFFICIENTNET_MODEL, options.validation)]
    reference = np.array([o["logits"].argmax() for o in run_all(base, validation)])
    # Diagnostic only: new crops (another seed) of the calibration photos, to tell fitting the
    # calibration photos from fitting the task.
    photos = crops(EFFICIENTNET_MODEL, CALIBRATION_PHOTOS, options.alike, seed=7) if options.alike else []
    alike = [{"input": crop[None]} for crop in photos]
    alike_reference = np.array([o["logits"].argmax() for o in run_all(base, alike)])
    data = {"calibration": str(calibration_path), "samples": options.calibration}
    rebuilt = {"reconstruct": True, **data}
    cluster, prune, channels = (
        "cluster 16 (bar 93 %)",
        "prune 0.5 (bar 90 %)",
        "prune-channels 0.2 (bar 80 %)",
    )
    channel = {"clusters": 16, "codebook": "channel"}
    magnitude = {"sparsity": 0.5, "mode": "global", "ranking": "magnitude"}
    ranked = {"sparsity": 0.5, "mode": "global", "ranking": "sensitivity"}
    settings: list[tuple[str, str, list[tuple[str, dict]]]] = [
        (cluster, "nearest centroid, layer codebooks", [("cluster", {"clusters": 16})]),
        (cluster, "nearest centroid, channel codebooks", [("cluster", channel)]),
        (cluster, "GPTQ-style, channel codebooks", [("cluster", {**channel, **rebuilt})]),
        (prune, "magnitude, per layer", [("prune", {"sparsity": 0.5})]),
        (prune, "SparseGPT in layer order", [("prune", {"sparsity": 0.5, **rebuilt})]),
        (prune, "global magnitude, SparseGPT", [("prune", {**magnitude, **rebuilt})]),
        (prune, "global sensitivity, magnitude", [("prune", {**ranked, **data})]),
        (prune, "global sensitivity, SparseGPT", [("prune", {**ranked, **rebuilt})]),
        (channels, "L1 choice, no refit", [("prune-channels", {"ratio": 0.2})]),
        (channels, "L1 choice, held-out-chosen refit", [("prune-channels", {"ratio": 0.2, **rebuilt})]),
        (
            channels,
            "consumers' OBS error choice, layer order",
            [("prune-channels", {"ratio": 0.2, "criterion": "obs", **data})],
        ),
    ]
    settings = [s for s in settings if not options.group or s[0].split()[0] in options.group]
    settings = [s for s in settings if not options.method or s[1] in options.method]
    print(
        f"\n== EfficientNet-Lite0: top-1 agreement with fp32 on {options.validation} crops of photos the "
        f"calibration ({options.calibration} crops) never saw, 95 % Wilson intervals =="
    )
    shown = ""
    for setting, method, specs in settings:
        graph = copy.deepcopy(base)
        start = time.perf_counter()
        run_passes(graph, [make_spec(name, opts) for name, opts in specs])
        seconds = time.perf_counter() - start
        got = np.array([o["logits"].argmax() for o in run_all(graph, validation)])
        ratio = storage_report(graph)["ratio"]
        alike_hits = int(
            np.sum(np.array([o["logits"].argmax() for o in run_all(graph, alike)]) == alike_reference)
        )
        shown_alike = (
            f"; new crops of the calibration photos {_share(alike_hits, len(alike))}" if alike else ""
        )
        sparsity = 1 - layer_density(graph)
        label, shown = ("" if setting == shown else setting), setting
        print(
            f"  {label:<30} {method:<38} {_share(int(np.sum(got == reference)), len(reference))}  "
            f"storage {ratio:.1f}x, sparsity {sparsity:.3f} ({_where(graph)}), {seconds:.0f} s{shown_alike}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-efficientnet", action="store_true")
    parser.add_argument("--skip-tflite", action="store_true", help="ONNX Runtime numbers only")
    parser.add_argument("--skip-table", action="store_true", help="only the held-out bars")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument(
        "--group",
        action="append",
        choices=("cluster", "prune", "prune-channels"),
        help="EfficientNet settings",
    )
    parser.add_argument("--method", action="append", help="EfficientNet methods, by their label")
    parser.add_argument("--calibration", type=int, default=32, help="EfficientNet calibration crops")
    parser.add_argument("--validation", type=int, default=128, help="EfficientNet validation crops")
    parser.add_argument(
        "--alike",
        type=int,
        default=0,
        help="also judge on this many new crops of the calibration photos (a diagnostic, not a bar)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not options.skip_digits:
            bench_digits_bars(Path(tmp))
        if not options.skip_efficientnet:
            bench_efficientnet_bars(options, Path(tmp))
        if not options.skip_table and not options.skip_digits:
            bench_digits(Path(tmp), options)


if __name__ == "__main__":
    main()
