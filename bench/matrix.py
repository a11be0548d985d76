"""A matrix build from a build file, cold and then from the cache: the ratio of the two wall times.

    .venv/bin/python bench/matrix.py [--jobs N] [--shared]

The build file holds 3 models x 4 targets (jetson-orin-nano, jetson-nano,
snapdragon-8gen2-gpu, rpi5: the tensorrt, snpe and tflite backends) x 2
precisions (fp32, fp16) = 24 cells: the PaddleOCR classifier of tests/data and
two small CNNs made with onnx.helper (with --shared: EfficientNet-Lite0 and
ppocr from ../shared/models and one small CNN). Both runs are `edgec build -f
edgec.toml --json` called in this process (cli.main), into a fresh cache
directory; the second with --force over the first run's bundles. It prints
each run's wall time, the hits and misses, whether every manifest's sha256
is the same in both runs, and cold/warm.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from release_helpers import conv_model  # noqa: E402

from edgec.cli import main  # noqa: E402

TARGETS = ["jetson-orin-nano", "jetson-nano", "snapdragon-8gen2-gpu", "rpi5"]


def _models(work: Path, shared: bool) -> list[tuple[Path, str | None]]:
    """(model, its input-shape option or None)."""
    if shared:
        models = ROOT.parent / "shared" / "models"
        return [
            (models / "efficientnet_lite0.onnx", None),
            (models / "ppocr_mobile_v2_cls.onnx", "x=1x3x48x192"),
            (conv_model(work / "cnn_a.onnx", 8), None),
        ]
    return [
        (ROOT / "tests" / "data" / "ppocr_mobile_v2_cls.onnx", "x=1x3x48x192"),
        (conv_model(work / "cnn_a.onnx", 8), None),
        (conv_model(work / "cnn_b.onnx", 16, "Sigmoid"), None),
    ]


def _build_file(work: Path, shared: bool) -> Path:
    lines = ['output = "dist"', f"targets = {json.dumps(TARGETS)}", 'precisions = ["fp32", "fp16"]']
    for model, shape in _models(work, shared):
        lines += ["[[model]]", f"path = {json.dumps(str(model))}"]
        if shape:
            lines.append(f"input-shape = [{json.dumps(shape)}]")
    path = work / "edgec.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(argv: list[str]) -> tuple[float, dict]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    seconds = time.perf_counter() - started
    summary = json.loads(out.getvalue())
    if code != 0:
        failed = [c for c in summary["cells"] if c["status"] != "ok"]
        raise SystemExit(f"exit {code}: {json.dumps(failed, indent=1)}")
    return seconds, summary


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, help="-j for both runs (default: edgec's)")
    parser.add_argument("--shared", action="store_true", help="use ../shared/models")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["EDGEC_CACHE_DIR"] = str(work / "cache")
        argv = ["build", "-f", str(_build_file(work, args.shared)), "--json", "--progress", "off"]
        argv += ["-j", str(args.jobs)] if args.jobs else []
        cold, first = _run(argv)
        warm, second = _run([*argv, "--force"])
    same = [a["manifest_sha256"] for a in first["cells"]] == [b["manifest_sha256"] for b in second["cells"]]
    for name, seconds, summary in (("cold", cold, first), ("warm", warm, second)):
        print(
            f"{name}: {seconds:7.2f} s wall, {summary['cells_ok']}/{summary['cells_total']} cells ok, "
            f"cache hits {summary['cache']['hits']}, misses {summary['cache']['misses']}"
        )
    print(f"every manifest sha256 equal in both runs: {same}")
    print(f"cold/warm wall time: {cold / warm:.1f}x")


if __name__ == "__main__":
    main_bench()
