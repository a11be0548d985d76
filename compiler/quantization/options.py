"""The quantization flags of ``edgec build`` (light imports: the CLI loads this at start-up)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgec.quantization.build import QuantizationOptions

# The calibration methods (edgec.quantization.ranges.METHODS; a test keeps the two equal).
METHOD_CHOICES = ("minmax", "percentile", "entropy", "mse")
DEFAULT_METHOD = "percentile"
# How int8 weights are rounded (edgec.quantization.rounding); "off" is round-to-nearest.
ROUNDING_MODES = ("gptq", "adaround", "off")
DEFAULT_ROUNDING = "gptq"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quantization (int8 builds; see report.json 'quantization')")
    group.add_argument(
        "--calibration-data",
        type=Path,
        metavar="PATH",
        help="calibration inputs: a directory of images (with --preprocess), an .npz keyed by input "
        "name, an .npy (one-input models) or a directory of .npz files",
    )
    group.add_argument(
        "--preprocess",
        metavar="SPEC|FILE.toml",
        help="how images become inputs, e.g. resize=224x224,scale=1/255,mean=0.485,0.456,0.406,"
        "std=0.229,0.224,0.225,layout=nchw,color=rgb; recorded in the manifest and README",
    )
    group.add_argument(
        "--calibration-method",
        choices=METHOD_CHOICES,
        default=DEFAULT_METHOD,
        help=f"how activation ranges are chosen (default {DEFAULT_METHOD})",
    )
    group.add_argument(
        "--calibration-samples",
        type=int,
        metavar="N",
        help="use exactly the first N calibration samples (default: all)",
    )
    group.add_argument(
        "--validation-data",
        type=Path,
        metavar="PATH",
        help="inputs (optionally labelled) for the accuracy metrics and budget, same forms as "
        "--calibration-data (default: the calibration data)",
    )
    group.add_argument(
        "--max-accuracy-drop",
        dest="accuracy_budgets",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="accuracy budget, repeatable: accuracy=POINTS (needs labels), top1=POINTS, top5=POINTS, "
        "cosine=1-COSINE, snr=MIN_DB; missed even with mixed precision: exit code 7",
    )
    group.add_argument(
        "--bias-correction",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="correct the biases of quantized layers for the mean error of their int8 weights (default: on)",
    )
    group.add_argument(
        "--equalize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="cross-layer equalization (Conv->Conv weight ranges; ReLU6 kept exact by per-channel bounds) "
        "before calibrating (default off)",
    )
    group.add_argument(
        "--reconstruct",
        nargs="?",
        const=DEFAULT_ROUNDING,
        choices=ROUNDING_MODES,
        default=None,
        metavar="{" + ",".join(ROUNDING_MODES) + "}",
        help="round the int8 weights on the calibration data's layer inputs: gptq (error feedback), "
        "adaround (learned rounding) or off (to nearest); bare --reconstruct means "
        f"{DEFAULT_ROUNDING} (default: {DEFAULT_ROUNDING}, except SNPE, whose converter rounds the weights)",
    )
    group.add_argument(
        "--no-reconstruct",
        dest="reconstruct",
        action="store_const",
        const="off",
        help="round the int8 weights to nearest (same as --reconstruct off)",
    )


def options_from_args(args: argparse.Namespace) -> QuantizationOptions:
    """The parsed flags as ``QuantizationOptions``; UsageError for a malformed budget or count."""
    from edgec.budget import parse_budget
    from edgec.data.preprocess import parse_preprocess
    from edgec.errors import UsageError
    from edgec.quantization.build import QuantizationOptions

    if args.calibration_samples is not None and args.calibration_samples < 1:
        raise UsageError("--calibration-samples must be at least 1")
    if args.preprocess is not None:
        parse_preprocess(args.preprocess)  # a malformed spec fails before any work
    return QuantizationOptions(
        calibration_data=args.calibration_data,
        preprocess=args.preprocess,
        method=args.calibration_method,
        samples=args.calibration_samples,
        validation_data=args.validation_data,
        budgets=tuple(parse_budget(text) for text in args.accuracy_budgets),
        bias_correction=args.bias_correction,
        equalize=args.equalize,
        reconstruct=args.reconstruct,
        seed=args.seed,
    )
