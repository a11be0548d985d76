"""The ``edgec`` command: build, compare, inspect, targets, verify, keygen; a thin layer over edgec.api.

Errors print one paragraph to stderr and exit with the error's code (see
README "Exit codes"); tracebacks only with ``--debug``. A matrix build exits
with the first failed cell's code (0 when every cell built).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgec import __version__, backend_registry
from edgec.compression import options as compression
from edgec.errors import EdgecError, UsageError
from edgec.limits import MAX_CALIBRATION_SAMPLES, MAX_SAMPLES
from edgec.quantization import options as quantization

if TYPE_CHECKING:
    from edgec.api import CacheConfig
    from edgec.backend_protocol import BackendOptions
    from edgec.pipeline import BuildOptions

_SHAPE = re.compile(r"^(?P<name>.+)=(?P<dims>\d+(?:x\d+)*)$")


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` -> (NAME, (1, 3, 224, 224)); NAME may contain '='."""
    match = _SHAPE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected NAME=DIMxDIMx..., e.g. input=1x3x224x224, got {text!r}")
    return match["name"], tuple(int(d) for d in match["dims"].split("x"))


def _seed(text: str) -> int:
    """A seed for numpy's generator: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {value}")
    return value


def _check_counts(args: argparse.Namespace) -> None:
    """--samples and --calibration-samples within 1..their cap (exit 2 naming the option and cap)."""
    counts = (("--samples", args.samples, MAX_SAMPLES),)
    if args.calibration_samples is not None:
        counts += (("--calibration-samples", args.calibration_samples, MAX_CALIBRATION_SAMPLES),)
    for option, value, cap in counts:
        if not 1 <= value <= cap:
            raise UsageError(f"{option} must be between 1 and {cap}, got {value}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets-file",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="extra target catalogue (TOML) that adds or overrides entries; repeatable",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr")
    parser.add_argument(
        "--progress",
        choices=("auto", "json", "off"),
        default="auto",
        help="progress on stderr: a bar when stderr is a terminal (auto), JSON lines, or none",
    )


def _names(text: str) -> list[str]:
    """A comma-separated list of names (``--target a,b``)."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected NAME[,NAME...], got {text!r}")
    return names


def _matrix_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("matrix builds, cache and signing")
    group.add_argument(
        "-f",
        "--file",
        type=Path,
        metavar="TOML",
        help="build file (edgec.toml): models x targets x precisions",
    )
    group.add_argument(
        "-j", "--jobs", type=int, metavar="N", help="parallel builds (default: CPUs, bounded by free memory)"
    )
    group.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="worker processes here, or Ray tasks"
    )
    group.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster, e.g. ray://head:10001 (default: RAY_ADDRESS or local)",
    )
    group.add_argument("--no-cache", action="store_true", help="neither read nor write the build cache")
    group.add_argument("--cache-dir", type=Path, metavar="DIR", help="build cache (default: EDGEC_CACHE_DIR)")
    group.add_argument(
        "--cache-max-bytes",
        type=int,
        metavar="N",
        help="cache size bound (default: EDGEC_CACHE_MAX_BYTES, 5 GiB)",
    )
    group.add_argument(
        "--sign-key",
        type=Path,
        metavar="PEM",
        help="Ed25519 private key: sign manifest.json (manifest.json.sig)",
    )


def _shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        action="append",
        type=parse_input_shape,
        default=[],
        metavar="NAME=DIMS",
        help="static shape for a model input, e.g. x=1x3x48x192; repeatable",
    )


def _backend_groups(parser: argparse.ArgumentParser) -> None:
    """Each installed backend's own argument group (edgec.backend_registry.loadable)."""
    for backend in backend_registry.loadable().values():
        backend.add_arguments(parser)


def _backend_options(args: argparse.Namespace) -> dict[str, BackendOptions]:
    """Each installed backend's typed options, parsed from its argument group, by backend name."""
    return {name: backend.parse_options(args) for name, backend in backend_registry.loadable().items()}


def _threshold_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accuracy-threshold",
        action="append",
        default=[],
        metavar="[OUTPUT:]METRIC=VALUE",
        help="override a threshold of the accuracy check, repeatable: cosine=C, snr=DB, top1=PCT, top5=PCT "
        "(aggregates over the check's samples), optionally for one output, e.g. prob:cosine=0.995",
    )


def _compare_parser(sub: Any) -> None:
    compare = sub.add_parser(
        "compare",
        help="int8 debugger: float vs Q/DQ simulation tensor by tensor; the float islands that fix it",
    )
    compare.add_argument("model", type=Path, metavar="MODEL", help="the ONNX model")
    compare.add_argument("-t", "--target", required=True, help="target name (see `edgec targets`)")
    compare.add_argument("--precision", default="int8", help="a quantized precision (default int8)")
    compare.add_argument("--runtime", help="runtime of a target group (default: the group's)")
    compare.add_argument(
        "--sample-data", type=Path, metavar="NPZ", help="inputs to compare on (as for build)"
    )
    compare.add_argument(
        "--samples", type=int, default=8, help="random samples without real data (default 8)"
    )
    compare.add_argument("--seed", type=int, default=0, help="seed of the random samples (default 0)")
    compare.add_argument(
        "--islands",
        type=int,
        default=3,
        metavar="N",
        help="float islands to rank and measure (default 3; 0: none)",
    )
    compare.add_argument("--json", action="store_true", help="print JSON")
    quantization.add_arguments(compare)
    _shape_option(compare)
    _common(compare)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgec", description="Compile an ONNX model into a bundle for edge hardware."
    )
    parser.add_argument("--version", action="version", version=f"edgec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="compile MODEL into a bundle for a target")
    build.add_argument("model", type=Path, nargs="?", metavar="MODEL", help="the ONNX model (or -f)")
    build.add_argument(
        "-t",
        "--target",
        action="append",
        type=_names,
        help="target name (see `edgec targets`); repeatable or comma-separated for a matrix",
    )
    build.add_argument(
        "-o",
        "--output",
        type=Path,
        help="bundle directory (default: dist/<model>-<target>); for a matrix the root of the bundles",
    )
    build.add_argument(
        "--precision",
        action="append",
        type=_names,
        help="fp32, fp16, int8, ... (default: the target's); repeatable or comma-separated",
    )
    build.add_argument(
        "--runtime", help="runtime of a target group, e.g. cpu, gpu, dsp, aip, htp (default: the group's)"
    )
    build.add_argument("--force", action="store_true", help="replace an existing output directory")
    build.add_argument(
        "--no-verify", action="store_true", help="skip the accuracy check against the input model"
    )
    build.add_argument(
        "--sample-data", type=Path, metavar="NPZ", help="inputs for the accuracy check (.npz by input name)"
    )
    build.add_argument(
        "--samples", type=int, default=8, help="random samples for the accuracy check (default 8)"
    )
    build.add_argument("--seed", type=_seed, default=0, help="seed of the random samples (default 0)")
    _threshold_option(build)
    build.add_argument("--dump-ir", type=Path, metavar="DIR", help="write the IR after each pass into DIR")
    build.add_argument(
        "--io-layout",
        choices=("nchw", "nhwc"),
        help="layout of image-like 4-D inputs and outputs on targets that change layouts (TFLite: nhwc)",
    )
    build.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    _backend_groups(build)
    compression.add_arguments(build)
    quantization.add_arguments(build)
    _shape_option(build)
    _matrix_options(build)
    _common(build)

    _compare_parser(sub)

    inspect = sub.add_parser("inspect", help="ops, parameters, MACs, memory; what a target cannot run")
    inspect.add_argument("model", type=Path, metavar="MODEL")
    inspect.add_argument(
        "-t", "--target", help="also list the nodes this target cannot run and estimate latency"
    )
    inspect.add_argument("--precision", help="precision for the latency estimate (default: the target's)")
    inspect.add_argument("--runtime", help="runtime of a target group (default: the group's)")
    inspect.add_argument(
        "--ir", action="store_true", help="print the IR after cleanup instead of the summary"
    )
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _shape_option(inspect)
    _common(inspect)

    targets = sub.add_parser("targets", help="list the target catalogue")
    targets.add_argument("--json", action="store_true", help="print JSON")
    _common(targets)

    verify = sub.add_parser("verify", help="re-hash a bundle, check its signature, re-run its artifact")
    verify.add_argument("bundle", type=Path, metavar="BUNDLE")
    verify.add_argument(
        "--public-key", type=Path, metavar="PEM", help="check manifest.json.sig with this key"
    )
    verify.add_argument("--no-run", action="store_true", help="only the hashes and the signature")
    verify.add_argument("--json", action="store_true", help="print JSON")
    _common(verify)

    keygen = sub.add_parser("keygen", help="make an Ed25519 key pair for --sign-key / --public-key")
    keygen.add_argument("private_key", type=Path, metavar="PRIVATE_PEM")
    keygen.add_argument("public_key", type=Path, metavar="PUBLIC_PEM")
    _common(keygen)
    return parser


def _build_options(args: argparse.Namespace) -> BuildOptions:
    """The namespace of `edgec build` (one model, the first target and precision) as BuildOptions."""
    from edgec.accuracy import parse_threshold
    from edgec.pipeline import BuildOptions

    _check_counts(args)
    return BuildOptions(
        model=args.model,
        target=_flat(args.target)[0] if args.target else "",
        output=args.output,
        precision=_flat(args.precision)[0] if args.precision else None,
        input_shapes=dict(args.input_shape),
        targets_files=args.targets_file,
        force=args.force,
        verify=not args.no_verify,
        sample_data=args.sample_data,
        samples=args.samples,
        seed=args.seed,
        dump_ir=args.dump_ir,
        io_layout=args.io_layout,
        runtime=args.runtime,
        backend_options=_backend_options(args),
        compression=compression.request_from_args(args),
        quantization=quantization.options_from_args(args),
        accuracy_thresholds=tuple(parse_threshold(text) for text in args.accuracy_threshold),
        sign_key=args.sign_key,
    )


def _flat(lists: Sequence[Sequence[str]] | None) -> list[str]:
    return [name for names in lists or () for name in names]


def _cache_config(args: argparse.Namespace) -> CacheConfig:
    from edgec.api import CacheConfig

    return CacheConfig(not args.no_cache, args.cache_dir, args.cache_max_bytes)


def _cells(
    args: argparse.Namespace, parse: Callable[[Sequence[str]], argparse.Namespace]
) -> list[BuildOptions]:
    """Every build the command line or the build file asks for."""
    from edgec import buildfile
    from edgec.matrix import expand

    if args.file is None:
        precisions: list[str | None] = list(_flat(args.precision)) or [None]
        root = args.output or Path("dist")
        return expand(_build_options(args), _flat(args.target), precisions, root), root
    if args.model is not None:
        raise UsageError("give either MODEL or -f/--file, not both")
    spec = buildfile.load(args.file, parse)
    root = args.output or spec.output
    cells = []
    for entry in spec.models:
        targets = _flat(args.target) or list(entry.targets)
        precisions = list(_flat(args.precision)) or list(entry.precisions)
        base = replace(_build_options(entry.args), force=args.force, sign_key=args.sign_key)
        cells += expand(base, targets, precisions, root)
    return cells, root


def _cmd_build(args: argparse.Namespace) -> int:
    from edgec.api import build_matrix
    from edgec.html_report import write_matrix_report

    if args.file is None and (args.model is None or not args.target):
        raise UsageError("edgec build needs MODEL and --target, or a build file with -f")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"-j/--jobs must be at least 1, got {args.jobs}")
    if args.cache_max_bytes is not None and args.cache_max_bytes < 0:
        raise UsageError(f"--cache-max-bytes must not be negative, got {args.cache_max_bytes}")
    if args.file is None and len(_flat(args.target)) * max(1, len(_flat(args.precision))) == 1:
        return _single_build(args)
    cells, root = _cells(args, _build_file_parser())
    result = build_matrix(
        cells, jobs=args.jobs, executor=args.executor, ray_address=args.ray_address, cache=_cache_config(args)
    )
    summary = result.as_dict() | {"report": str(write_matrix_report(result.as_dict()["cells"], root))}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for cell in result.cells:
            where = cell.bundle if cell.status == "ok" else f"exit {cell.exit_code}: {cell.error}"
            print(f"{cell.status:6} {cell.cache:4} {cell.seconds:7.2f}s {cell.model} {cell.target} {where}")
        print(
            f"{summary['cells_ok']}/{summary['cells_total']} built, {result.hits} from the cache, "
            f"{result.seconds:.1f} s; report {summary['report']}"
        )
    return result.exit_code


def _single_build(args: argparse.Namespace) -> int:
    from edgec.api import build

    options = _build_options(args)
    fields = {f: getattr(options, f) for f in options.__dataclass_fields__ if f not in ("model", "target")}
    result = build(options.model, options.target, cache=_cache_config(args), **fields)
    summary = {
        "bundle": result.bundle,
        "target": result.target,
        "precision": result.precision,
        "artifact": _artifact(result.bundle),
        "accuracy": result.accuracy,
        "cache": result.cache,
        "manifest_sha256": result.manifest_sha256,
        "seconds": result.seconds,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {result.bundle}/ ({summary['artifact']}, {summary['target']}, {summary['precision']})")
        for name, metrics in (summary["accuracy"] or {}).get("outputs", {}).items():
            snr = "exact" if metrics["snr_db"] is None else f"{metrics['snr_db']} dB"
            print(
                f"  {name}: cosine {metrics['cosine']}, SNR {snr}, max abs error {metrics['max_abs_error']}"
            )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from edgec.compare import compare_layers, format_comparison
    from edgec.pipeline import BuildOptions

    if args.samples < 1 or args.islands < 0:
        raise UsageError("--samples must be at least 1 and --islands at least 0")
    options = BuildOptions(
        model=args.model,
        target=args.target,
        precision=args.precision,
        input_shapes=dict(args.input_shape),
        targets_files=args.targets_file,
        sample_data=args.sample_data,
        samples=args.samples,
        seed=args.seed,
        runtime=args.runtime,
        quantization=quantization.options_from_args(args),
    )
    report = compare_layers(options, args.islands)
    print(
        json.dumps(report, indent=2) if args.json else format_comparison(report),
        end="\n" if args.json else "",
    )
    return 0


def _artifact(bundle: str | None) -> str | None:
    if bundle is None:
        return None
    return json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))["artifact"]


def _build_file_parser() -> Callable[[Sequence[str]], argparse.Namespace]:
    """Parses a build file's model entry as `edgec build` arguments; errors become UsageError."""
    parser = _build_parser()

    def parse(argv: Sequence[str]) -> argparse.Namespace:
        try:
            return parser.parse_args(["build", *argv])
        except SystemExit as exc:
            raise UsageError(
                f"build file: bad option(s) in {' '.join(argv)} (see the message above)"
            ) from exc

    return parse


def _cmd_inspect(args: argparse.Namespace) -> int:
    from edgec.analysis import format_inspect
    from edgec.api import inspect

    result = inspect(
        args.model,
        args.target,
        precision=args.precision,
        runtime=args.runtime,
        input_shapes=dict(args.input_shape),
        targets_files=args.targets_file,
        ir=args.ir,
    )
    if result.ir is not None:
        print(result.ir, end="")
        return 0
    print(
        json.dumps(result.report, indent=2) if args.json else format_inspect(result.report),
        end="" if not args.json else "\n",
    )
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from edgec.targets import format_table, load_catalogue, table_rows

    rows = table_rows(load_catalogue(args.targets_file))
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from edgec.api import verify

    result = verify(args.bundle, args.public_key, run=not args.no_run)
    if args.json:
        print(
            json.dumps(
                {
                    "bundle": str(result.bundle),
                    "files": result.files,
                    "signature": result.signature,
                    "runtime": result.runtime,
                    "outputs": result.outputs,
                },
                indent=2,
            )
        )
    else:
        print(f"{result.bundle}: {result.files} files match manifest.json; signature: {result.signature}")
        print(f"  artifact run: {result.runtime}")
        for name, metrics in result.outputs.items():
            print(f"  {name}: cosine {metrics['cosine']:.6f}, max abs error {metrics['max_abs_error']:.3g}")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from edgec.signing import keygen

    keygen(args.private_key, args.public_key)
    print(f"wrote {args.private_key} (private, mode 600) and {args.public_key} (public)")
    return 0


COMMANDS = {
    "build": _cmd_build,
    "compare": _cmd_compare,
    "inspect": _cmd_inspect,
    "targets": _cmd_targets,
    "verify": _cmd_verify,
    "keygen": _cmd_keygen,
}


def _setup_output(args: argparse.Namespace) -> Callable[[], None]:
    """Logging to stderr at the -q/-v level and the --progress display; returns their teardown."""
    from edgec import progress

    levels = {0: logging.WARNING, 1: logging.INFO}
    progress.log_to_stderr(logging.ERROR if args.quiet else levels.get(args.verbose, logging.DEBUG))
    if args.progress == "off" or args.quiet:
        return lambda: None
    if args.progress == "json":
        return progress.subscribe(progress.json_lines())
    display = progress.TerminalDisplay()
    unsubscribe = progress.subscribe(display)

    def close() -> None:
        unsubscribe()
        display.close()

    return close


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    teardown = _setup_output(args)
    try:
        return COMMANDS[args.command](args)
    except EdgecError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"edgec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            reason = f"{type(exc).__name__}: {exc}"
            print(f"edgec: internal error: {reason} (a bug; --debug shows the traceback)", file=sys.stderr)
        return 1
    finally:
        teardown()
