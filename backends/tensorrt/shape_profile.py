"""``--shape-profile NAME=MIN:OPT:MAX``: a min/opt/max range of shapes for one model input.

The compiler itself works on static shapes: the model is compiled at the
OPT shape, and backends that build engines for a range of shapes (TensorRT's
optimization profiles) get the profile to make the emitted model's dims
dynamic again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgec.plugin import UsageError

_PROFILE = re.compile(r"^(?P<name>.+)=(?P<min>\d+(?:x\d+)*):(?P<opt>\d+(?:x\d+)*):(?P<max>\d+(?:x\d+)*)$")


def format_dims(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)


@dataclass(frozen=True)
class ShapeProfile:
    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    @property
    def dynamic_axes(self) -> tuple[int, ...]:
        """The axes whose size varies within the profile (min != max)."""
        return tuple(i for i, (low, high) in enumerate(zip(self.min, self.max, strict=True)) if low != high)

    def spec(self) -> str:
        return f"{self.name}={format_dims(self.min)}:{format_dims(self.opt)}:{format_dims(self.max)}"

    def as_dict(self) -> dict[str, object]:
        return {"input": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def parse_shape_profile(text: str) -> ShapeProfile:
    """``images=1x3x416x416:4x3x416x416:8x3x416x416`` -> ShapeProfile; ValueError saying what is wrong."""
    match = _PROFILE.match(text)
    if match is None:
        raise ValueError(
            f"expected NAME=MIN:OPT:MAX with each DIMS like 1x3x224x224, "
            f"e.g. images=1x3x416x416:4x3x416x416:8x3x416x416, got {text!r}"
        )
    low, opt, high = (tuple(int(d) for d in match[key].split("x")) for key in ("min", "opt", "max"))
    name = match["name"]
    if not len(low) == len(opt) == len(high):
        raise ValueError(f"{text!r}: MIN, OPT and MAX of '{name}' must have the same number of dims")
    if 0 in low:
        raise ValueError(f"{text!r}: every dim must be a positive integer")
    for axis, (a, b, c) in enumerate(zip(low, opt, high, strict=True)):
        if not a <= b <= c:
            raise ValueError(f"{text!r}: dim {axis} of '{name}' needs MIN <= OPT <= MAX, got {a}, {b}, {c}")
    return ShapeProfile(name, low, opt, high)


def merged_input_shapes(
    model: Path, profiles: Sequence[ShapeProfile], input_shapes: Mapping[str, Sequence[int]]
) -> dict[str, tuple[int, ...]]:
    """``input_shapes`` plus each profile's OPT shape; refuses unknown inputs, repeats and conflicts."""
    proto = onnx.load(str(model), load_external_data=False)
    inits = {init.name for init in proto.graph.initializer}
    names = [info.name for info in proto.graph.input if info.name not in inits]
    shapes = {name: tuple(dims) for name, dims in input_shapes.items()}
    seen: set[str] = set()
    for profile in profiles:
        if profile.name not in names:
            raise UsageError(
                f"--shape-profile names '{profile.name}', but {model.name} has no input of that name; "
                f"its inputs are: {', '.join(names) or 'none'}."
            )
        if profile.name in seen:
            raise UsageError(f"--shape-profile gives '{profile.name}' twice; give each input one profile.")
        seen.add(profile.name)
        given = shapes.get(profile.name)
        if given is not None and given != profile.opt:
            raise UsageError(
                f"--input-shape {profile.name}={format_dims(given)} disagrees with the OPT shape "
                f"{format_dims(profile.opt)} of --shape-profile {profile.spec()}; the model is compiled "
                f"at the OPT shape, so drop --input-shape for '{profile.name}' or make them equal."
            )
        shapes[profile.name] = profile.opt
    return shapes
