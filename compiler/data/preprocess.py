"""The preprocessing spec: how an image file becomes a model input.

The same spec preprocesses calibration and validation images on the build
host and is recorded in the manifest and the bundle's README, so the device
does exactly the same. It is written inline on the command line::

    resize=224x224,scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,layout=nchw,color=rgb

or as a TOML file with the same keys (lists as arrays, sizes as "HxW"
strings or integers). Keys and their order of application:

- ``color``: rgb (default), bgr or gray;
- ``resize``: ``HxW`` (exact size) or ``N`` (shorter side to N, aspect kept);
  default: the model input's height and width;
- ``crop``: ``HxW`` centre crop after the resize;
- ``interpolation``: bilinear (default), nearest or bicubic;
- ``scale``: multiply pixel values (0..255) by this (e.g. ``1/255``); default 1;
- ``mean``, ``std``: one value or one per channel; ``(x - mean) / std``;
- ``layout``: nchw or nhwc, the model input's logical (ONNX) order; default:
  nhwc when the input's last axis has 1 or 3 channels and its second does not.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgec.errors import UsageError
from edgec.ir.graph import Value

COLORS = ("rgb", "bgr", "gray")
LAYOUTS = ("nchw", "nhwc")
INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
_KEYS = ("resize", "crop", "interpolation", "scale", "mean", "std", "layout", "color")
# Split "a=1,b=2,3" at the commas that start a new key, so lists need no other separator.
_ITEM_SPLIT = re.compile(r",\s*(?=[a-z_]+\s*=)")


@dataclass(frozen=True)
class Preprocess:
    """A parsed spec. ``resize``/``layout`` None: taken from the model input (see ``for_input``)."""

    resize: tuple[int, int] | int | None = None
    crop: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str | None = None
    color: str = "rgb"

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def for_input(self, value: Value) -> Preprocess:
        """Fill ``layout`` and ``resize`` from the model input, and check the result fits it."""
        shape = tuple(value.shape or ())
        layout = self.layout or _layout_of(shape)
        if len(shape) != 4:
            raise UsageError(
                f"image data needs a 4-D model input, but input '{value.name}' has shape {list(shape)}; "
                f"give .npz/.npy data keyed by input name instead"
            )
        height, width, channels = (shape[2], shape[3], shape[1]) if layout == "nchw" else shape[1:]
        spec = replace(self, layout=layout, resize=self.resize or (height, width))
        out_h, out_w = spec.output_size()
        if (out_h, out_w, spec.channels) != (height, width, channels):
            raise UsageError(
                f"the preprocessing '{spec.text()}' makes {out_h}x{out_w} images with {spec.channels} "
                f"channel(s) in {layout}, but input '{value.name}' has shape {list(shape)}; "
                f"change resize=/crop=/color=/layout= to match"
            )
        for name, values in (("mean", spec.mean), ("std", spec.std)):
            if len(values) not in (1, spec.channels):
                raise UsageError(f"preprocessing {name}= has {len(values)} values, expected 1 or {channels}")
        return spec

    def output_size(self) -> tuple[int, int]:
        if self.crop is not None:
            return self.crop
        if isinstance(self.resize, tuple):
            return self.resize
        raise UsageError("resize=N (shorter side) needs crop=HxW to give every image the same size")

    def text(self) -> str:
        """The canonical one-line spec (what ``parse_preprocess`` reads back)."""
        items = []
        if self.resize is not None:
            items.append(f"resize={_size_text(self.resize)}")
        if self.crop is not None:
            items.append(f"crop={_size_text(self.crop)}")
        items.append(f"interpolation={self.interpolation}")
        items.append(f"scale={self.scale!r}")
        items.append("mean=" + ",".join(repr(v) for v in self.mean))
        items.append("std=" + ",".join(repr(v) for v in self.std))
        if self.layout is not None:
            items.append(f"layout={self.layout}")
        items.append(f"color={self.color}")
        return ",".join(items)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "spec": self.text(),
            "color": self.color,
            "resize": list(self.resize) if isinstance(self.resize, tuple) else self.resize,
            "crop": list(self.crop) if self.crop is not None else None,
            "interpolation": self.interpolation,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
        }

    def apply(self, image: Any) -> np.ndarray:
        """A decoded PIL image -> one float32 array in ``layout`` without a batch dim."""
        from PIL import Image

        image = image.convert("L" if self.color == "gray" else "RGB")
        resample = {
            "bilinear": Image.Resampling.BILINEAR,
            "nearest": Image.Resampling.NEAREST,
            "bicubic": Image.Resampling.BICUBIC,
        }[self.interpolation]
        if isinstance(self.resize, tuple):
            image = image.resize((self.resize[1], self.resize[0]), resample)
        elif isinstance(self.resize, int):
            ratio = self.resize / min(image.size)
            image = image.resize((round(image.width * ratio), round(image.height * ratio)), resample)
        if self.crop is not None:
            image = _centre_crop(image, self.crop)
        array = np.asarray(image, dtype=np.float32)
        array = array[:, :, None] if array.ndim == 2 else array
        if self.color == "bgr":
            array = array[:, :, ::-1]
        array = (array * np.float32(self.scale) - np.asarray(self.mean, np.float32)) / np.asarray(
            self.std, np.float32
        )
        return np.ascontiguousarray(array.transpose(2, 0, 1) if self.layout == "nchw" else array)


def _layout_of(shape: tuple[int, ...]) -> str:
    """The input's logical layout, guessed from where a 1- or 3-channel axis sits (NCHW if unclear)."""
    channels_last = len(shape) == 4 and shape[3] in (1, 3) and shape[1] not in (1, 3)
    return "nhwc" if channels_last else "nchw"


def _centre_crop(image: Any, size: tuple[int, int]) -> Any:
    height, width = size
    if image.height < height or image.width < width:
        raise UsageError(
            f"crop={height}x{width} is larger than the resized image ({image.height}x{image.width}); "
            f"resize to at least the crop size"
        )
    top, left = (image.height - height) // 2, (image.width - width) // 2
    return image.crop((left, top, left + width, top + height))


def _size_text(size: tuple[int, int] | int) -> str:
    return f"{size[0]}x{size[1]}" if isinstance(size, tuple) else str(size)


def _number(text: str, key: str) -> float:
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise UsageError(f"preprocessing {key}={text!r} is not a number (e.g. 0.5 or 1/255)") from exc


def _size(value: Any, key: str, single: bool) -> tuple[int, int] | int:
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if match:
        return int(match[1]), int(match[2])
    if single and text.isdigit():
        return int(text)
    form = "HxW or N (shorter side)" if single else "HxW"
    raise UsageError(f"preprocessing {key}={text!r} is not a size; write {form}, e.g. 224x224")


def _numbers(value: Any, key: str) -> tuple[float, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    numbers = tuple(_number(str(item).strip(), key) for item in items)
    if not numbers:
        raise UsageError(f"preprocessing {key}= has no values")
    return numbers


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise UsageError(f"preprocessing {key}={text!r}: choose one of {', '.join(choices)}")
    return text


def _from_items(items: Mapping[str, Any], where: str) -> Preprocess:
    unknown = sorted(set(items) - set(_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown preprocessing key(s) {unknown}; known: {', '.join(_KEYS)}")
    spec = Preprocess()
    if "resize" in items:
        spec = replace(spec, resize=_size(items["resize"], "resize", single=True))
    if "crop" in items:
        crop = _size(items["crop"], "crop", single=False)
        spec = replace(spec, crop=crop if isinstance(crop, tuple) else None)
    if "interpolation" in items:
        spec = replace(spec, interpolation=_choice(items["interpolation"], "interpolation", INTERPOLATIONS))
    if "scale" in items:
        spec = replace(spec, scale=_number(str(items["scale"]), "scale"))
    if "mean" in items:
        spec = replace(spec, mean=_numbers(items["mean"], "mean"))
    if "std" in items:
        std = _numbers(items["std"], "std")
        if any(v == 0 for v in std):
            raise UsageError(f"{where}: std= must not contain 0")
        spec = replace(spec, std=std)
    if "layout" in items:
        spec = replace(spec, layout=_choice(items["layout"], "layout", LAYOUTS))
    if "color" in items:
        spec = replace(spec, color=_choice(items["color"], "color", COLORS))
    return spec


def parse_preprocess(text: str) -> Preprocess:
    """``key=value,...`` inline, or the path of a ``.toml`` file with the same keys."""
    if text.endswith(".toml"):
        path = Path(text)
        try:
            items = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the preprocessing file '{path}': {exc}") from exc
        return _from_items(items, str(path))
    items: dict[str, str] = {}
    for item in _ITEM_SPLIT.split(text.strip()):
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise UsageError(
                f"preprocessing spec {text!r}: {item!r} is not key=value "
                f"(e.g. resize=224x224,scale=1/255,mean=0.485,0.456,0.406)"
            )
        items[key.strip()] = value.strip()
    return _from_items(items, f"preprocessing spec {text!r}")
