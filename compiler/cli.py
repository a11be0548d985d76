"""The ``edgec`` command: build, compare, inspect, targets.

Errors print one paragraph to stderr and exit with the error's code (see
README "Exit codes"); tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgec import __version__
from edgec.compression import options as compression
from edgec.errors import EdgecError, TargetError, UsageError
from edgec.limits import MAX_CALIBRATION_SAMPLES, MAX_SAMPLES
from edgec.quantization import options as quantization
from edgec.shape_profile import ShapeProfile, parse_shape_profile

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


def _shape_profile(text: str) -> ShapeProfile:
    try:
        return parse_shape_profile(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def _shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        action="append",
        type=parse_input_shape,
        default=[],
        metavar="NAME=DIMS",
        help="static shape for a model input, e.g. x=1x3x48x192; repeatable",
    )


def _tensorrt_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TensorRT (Jetson targets)")
    group.add_argument(
        "--dla-core",
        type=int,
        metavar="N",
        help="build for DLA core N by default (targets with DLA only; fp16/int8), other layers on the GPU",
    )
    group.add_argument(
        "--no-gpu-fallback",
        dest="gpu_fallback",
        action="store_false",
        help="with --dla-core: fail instead of running layers the DLA cannot take on the GPU",
    )
    group.add_argument(
        "--build-engine",
        action="store_true",
        help="also build the engine here (needs TensorRT's Python package and the target's GPU)",
    )
    group.add_argument(
        "--shape-profile",
        action="append",
        type=_shape_profile,
        default=[],
        metavar="NAME=MIN:OPT:MAX",
        help="dynamic dims for input NAME, each DIMS like 1x3x224x224: compiled at OPT, the engine takes "
        "MIN..MAX, e.g. images=1x3x416x416:4x3x416x416:8x3x416x416; repeatable",
    )


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """The backend-specific flags the user gave (defaults left out, so other backends see none)."""
    options: dict[str, Any] = {}
    if args.dla_core is not None:
        options["dla_core"] = args.dla_core
    if not args.gpu_fallback:
        options["gpu_fallback"] = False
    if args.build_engine:
        options["build_engine"] = True
    if args.shape_profile:
        options["shape_profile"] = tuple(args.shape_profile)
    return options


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
    build.add_argument("model", type=Path, metavar="MODEL", help="the ONNX model")
    build.add_argument("-t", "--target", required=True, help="target name (see `edgec targets`)")
    build.add_argument("-o", "--output", type=Path, help="bundle directory (default: dist/<model>-<target>)")
    build.add_argument("--precision", help="fp32, fp16, int8, ... (default: the target's)")
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
    _tensorrt_options(build)
    compression.add_arguments(build)
    quantization.add_arguments(build)
    _shape_option(build)
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
    return parser


def _cmd_build(args: argparse.Namespace) -> int:
    from edgec.accuracy import parse_threshold
    from edgec.pipeline import BuildOptions, build

    _check_counts(args)
    result = build(
        BuildOptions(
            model=args.model,
            target=args.target,
            output=args.output,
            precision=args.precision,
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
        )
    )
    summary = {
        "bundle": str(result.bundle),
        "target": result.manifest["target"],
        "precision": result.manifest["precision"],
        "artifact": result.manifest["artifact"],
        "accuracy": result.report["accuracy"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {result.bundle}/ ({summary['artifact']}, {summary['target']}, {summary['precision']})")
        for name, metrics in summary["accuracy"].get("outputs", {}).items():
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


def _cmd_inspect(args: argparse.Namespace) -> int:
    from edgec import backends
    from edgec.analysis import format_inspect, inspect_model
    from edgec.backends import Unsupported
    from edgec.frontend import load_model
    from edgec.ir.printer import format_graph
    from edgec.passes import make_spec, run_passes
    from edgec.targets import load_catalogue

    target = None
    if args.target:
        target = load_catalogue(args.targets_file).select(args.target, args.runtime)
        target.resolve_precision(args.precision)
    graph = load_model(
        args.model, dict(args.input_shape), default_batch=target.default_batch if target else 1
    )
    run_passes(graph, [make_spec("cleanup")])
    if args.ir:
        print(format_graph(graph), end="")
        return 0
    unsupported: list[Unsupported] | None = []
    if target is not None:
        try:
            unsupported = backends.load(target.backend, target.name).check(graph, target)
        except TargetError:
            unsupported = None  # the backend or its extra is not installed: support unknown
    report = inspect_model(graph, target, unsupported, precision=args.precision)
    print(
        json.dumps(report, indent=2) if args.json else format_inspect(report),
        end="" if not args.json else "\n",
    )
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from edgec.targets import format_table, load_catalogue, table_rows

    rows = table_rows(load_catalogue(args.targets_file))
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


COMMANDS = {"build": _cmd_build, "compare": _cmd_compare, "inspect": _cmd_inspect, "targets": _cmd_targets}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
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
