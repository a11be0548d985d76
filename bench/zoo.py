"""The conformance zoo's matrix: every registry model x target x precision, one subprocess per cell.

    python bench/zoo.py [--models a,b] [--targets rpi4,...] [--precisions fp32,int8] [-j 2]
                        [--timeout 900] [--calibration 32] [--validation 32] [--work DIR]
                        [--only-failed] [--no-ort-quantize] [--write-readme] [--table-only]
                        [--merge OTHER_WORK/results.json]

Models: tests/zoo_models.toml (fetched into $EDGEC_ZOO_CACHE, else ~/.cache/edgec-zoo). Targets:
onnxruntime-cpu, rpi4, coral-edgetpu, cortex-m7, jetson-agx-orin, snapdragon-8gen2 (htp); the
precisions of each among fp32, fp16, int8 that the target runs. Inputs: tests/zoo_data.py,
calibration and held-out inputs from different sources. Each cell (bench/zoo_cell.py) builds as
`edgec build` does and prints built / refused before work (exit code, reason) / failed, the build
seconds, the cosine over all held-out inputs per output (the lowest is shown) and, for
classifiers, top-1 agreement with the input model; classifiers also get a cell for ONNX
Runtime's quantize_static (QDQ, per-channel, MinMax) on the same calibration inputs. A cell the
registry declares an expected failure is shown as such with its reason.

Results accumulate in WORK/results.json (default work dir: ~/.cache/edgec-zoo/work), so a slice
can be rerun (--models/--targets/--precisions, --only-failed) and the table rebuilt from all
cells measured; --write-readme puts it into README.md between the zoo markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from zoo_cell import ORT_QUANTIZE
from zoo_models import ZooModel, cache_dir, load_registry

from edgec.targets import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
TARGETS = (
    "onnxruntime-cpu",
    "rpi4",
    "coral-edgetpu",
    "cortex-m7",
    "jetson-agx-orin",
    "snapdragon-8gen2:htp",
)
PRECISIONS = ("fp32", "fp16", "int8")
BEGIN, END = "<!-- zoo:begin -->", "<!-- zoo:end -->"
Cell = tuple[str, str, str]


def target_precisions(target: str) -> list[str]:
    name, _, runtime = target.partition(":")
    found = load_catalogue().select(name, runtime or None)
    return [p for p in PRECISIONS if p in found.precisions]


def matrix(models: list[ZooModel], targets: list[str], precisions: list[str], ort: bool) -> list[Cell]:
    cells = []
    for model in models:
        for target in targets:
            cells += [(model.name, target, p) for p in target_precisions(target) if p in precisions]
        if ort and model.task == "classifier" and "int8" in precisions:
            cells.append((model.name, ORT_QUANTIZE, "int8"))
    return cells


def run_cell(cell: Cell, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "bench" / "zoo_cell.py"), *cell, "--work", str(args.work)]
    command += ["--calibration", str(args.calibration), "--validation", str(args.validation)]
    log = args.work / "logs" / f"{'-'.join(cell).replace(':', '_')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return _cell_dict(cell, "failed", -1, f"timed out after {args.timeout} s")
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return _cell_dict(cell, "failed", done.returncode, f"cell crashed: {done.stderr.strip()[-300:]}")
    return json.loads(lines[-1]) | {"calibration": args.calibration, "validation": args.validation}


def _cell_dict(cell: Cell, status: str, code: int, message: str) -> dict[str, Any]:
    return {"model": cell[0], "target": cell[1], "precision": cell[2], "status": status, "code": code,
            "message": message, "seconds": None}  # fmt: skip


def key(cell: dict[str, Any]) -> str:
    return f"{cell['model']}|{cell['target']}|{cell['precision']}"


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def summary(cell: dict[str, Any], model: ZooModel | None) -> str:
    """One short line for a cell: state, lowest cosine, top-1, seconds."""
    expected = None
    if model and cell["target"] != ORT_QUANTIZE:
        expected = model.expected_failure(cell["target"].split(":")[0], cell["precision"])
    parts = []
    if cell.get("cosine"):
        parts.append(f"{min(cell['cosine'].values()):.5f}")
    if "top1" in cell:
        parts.append(f"{100 * cell['top1']:.0f} %")
    if cell["status"] != "built":
        word = "expected" if expected else cell["status"]
        return f"{word}, exit {cell['code']}" + "".join(f" · {p}" for p in parts)
    if cell.get("seconds") is not None:
        parts.append(f"{cell['seconds']:.0f} s")
    flag = " (declared expected, builds)" if expected else ""
    return "ok · " + " · ".join(parts) + flag


def table(results: dict[str, dict[str, Any]], models: list[ZooModel], args: argparse.Namespace) -> str:
    columns = [(t, p) for t in TARGETS for p in target_precisions(t)] + [(ORT_QUANTIZE, "int8")]
    head = "| model | " + " | ".join(f"{t.replace(':', ' ')} {p}" for t, p in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    for model in models:
        row = [results.get(f"{model.name}|{t}|{p}") for t, p in columns]
        lines.append(f"| {model.name} | " + " | ".join(summary(c, model) if c else "" for c in row) + " |")
    counts = sorted({(c.get("calibration"), c.get("validation")) for c in results.values()} - {(None, None)})
    sizes = ", ".join(f"{c} / {v}" for c, v in counts)
    lines += ["", f"Calibration / held-out inputs per model: {sizes}. Cosine over all held-out inputs "
              "together, lowest output shown; seconds: the whole build (2 shared cores, other work "
              "running). Why each cell that did not build fails: its `expected` entry in "
              "tests/zoo_models.toml; `bench/zoo.py --table-only` prints the list."]  # fmt: skip
    return "\n".join(lines)


def failures(results: dict[str, dict[str, Any]], models: list[ZooModel]) -> str:
    """Every cell that did not build, with its declared reason or its message."""
    lines = ["Cells that did not build:", ""]
    by_name = {m.name: m for m in models}
    for cell in results.values():
        model = by_name.get(cell["model"])
        if model is None or cell["status"] == "built":
            continue
        expected = model.expected_failure(cell["target"].split(":")[0], cell["precision"])
        reason = f"expected: {expected.reason}" if expected else cell["message"].replace("\n", " ")[:300]
        lines.append(f"- {key(cell).replace('|', ' / ')}: {cell['status']}, exit {cell['code']}: {reason}")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    content = readme.read_text(encoding="utf-8")
    if BEGIN not in content or END not in content:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    before, rest = content.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--validation", type=int, default=32)
    parser.add_argument("--work", type=Path, default=cache_dir() / "work")
    parser.add_argument("--only-failed", action="store_true", help="rerun only cells that did not build")
    parser.add_argument("--no-ort-quantize", action="store_true")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--table-only", action="store_true", help="run no cell: tabulate the results so far")
    parser.add_argument(
        "--merge", type=Path, action="append", default=[], help="another run's results.json, for the table"
    )
    args = parser.parse_args()
    registry = load_registry()
    chosen = set(filter(None, args.models.split(",")))
    models = [m for m in registry if not chosen or m.name in chosen]
    targets, precisions = args.targets.split(","), args.precisions.split(",")
    results_file = args.work / "results.json"
    results = load_results(results_file)
    cells = matrix(models, targets, precisions, not args.no_ort_quantize)
    by_name = {m.name: m for m in registry}
    if args.only_failed:
        cells = [c for c in cells if results.get("|".join(c), {}).get("status") != "built"]
        cells = [c for c in cells if not by_name[c[0]].expected_failure(c[1].split(":")[0], c[2])]
    if args.table_only:
        cells = []
    args.work.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for cell in pool.map(lambda c: run_cell(c, args), cells):
            results[key(cell)] = cell
            results_file.write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
            print(
                f"{key(cell):60s} {summary(cell, by_name[cell['model']])}  {cell['message'][:160]}",
                flush=True,
            )
    merged = {}
    for other in args.merge:
        merged |= load_results(other)
    text = table(merged | results, registry, args)
    print(text, failures(merged | results, registry), sep="\n\n")
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
