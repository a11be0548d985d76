"""TensorRT's options and the ``edgec build`` argument group that sets them.

``--dla-core N``, ``--no-gpu-fallback``, ``--build-engine`` and
``--shape-profile NAME=MIN:OPT:MAX`` (repeatable). A build compiles at each
profile's OPT shape, so the profiles also set those inputs' static shapes.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from edgec.backends.tensorrt import dla, profile
from edgec.backends.tensorrt.shape_profile import ShapeProfile, merged_input_shapes, parse_shape_profile
from edgec.backends.tensorrt.stack import Stack
from edgec.plugin import BackendOptions, Target, TargetError


def _shape_profile(text: str) -> ShapeProfile:
    try:
        return parse_shape_profile(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


@dataclass(frozen=True)
class TensorRTOptions(BackendOptions):
    """The request's TensorRT options."""

    label: ClassVar[str] = "TensorRT (Jetson)"

    dla_core: int | None = None
    gpu_fallback: bool = field(default=True, metadata={"flag": "--no-gpu-fallback"})
    build_engine: bool = False
    shape_profile: tuple[ShapeProfile, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TensorRTOptions:
        return cls(args.dla_core, args.gpu_fallback, args.build_engine, tuple(args.shape_profile))

    def input_shapes(self, model: Path, shapes: Mapping[str, Sequence[int]]) -> Mapping[str, Sequence[int]]:
        """The profiles' OPT shapes over ``--input-shape``'s (the model is compiled at OPT)."""
        return merged_input_shapes(model, self.shape_profile, shapes) if self.shape_profile else shapes

    def validate(self, target: Target, precision: str, stack: Stack) -> None:
        if self.dla_core is not None and profile.dynamic(self.shape_profile):
            raise TargetError(
                f"the DLA takes no dynamic dimensions (MIN = OPT = MAX, REFERENCE A8), but --shape-profile "
                f"{' '.join(p.spec() for p in self.shape_profile)} varies; drop --dla-core to build for the "
                f"GPU, or use --input-shape for a static DLA build."
            )
        if self.dla_core is None:
            if not self.gpu_fallback:
                raise TargetError(
                    "--no-gpu-fallback applies to DLA builds only; add --dla-core N or drop it."
                )
            return
        if stack.dla_cores == 0:
            raise TargetError(
                f"target '{target.name}' ({stack.module}) has no DLA cores, so --dla-core cannot apply; "
                f"drop --dla-core to build for the GPU."
            )
        if not 0 <= self.dla_core < stack.dla_cores:
            raise TargetError(
                f"target '{target.name}' ({stack.module}) has DLA cores 0..{stack.dla_cores - 1}; "
                f"--dla-core {self.dla_core} does not exist. Pass one of them."
            )
        if precision not in dla.DLA_PRECISIONS:
            raise TargetError(
                f"the DLA runs only {' and '.join(dla.DLA_PRECISIONS)}, not {precision}; build with "
                f"--precision fp16 or int8 for --dla-core, or drop --dla-core to use the GPU."
            )
