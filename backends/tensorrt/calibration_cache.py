"""TensorRT's INT8 calibration cache: the text format, written and parsed (REFERENCE A1).

    TRT-<version int>-EntropyCalibration2
    <tensor name>: <8 hex digits>

One line per tensor; the hex digits are the IEEE-754 binary32 bits of the
tensor's scale, ``amax / 127``, most significant byte first (``0.125`` ->
``3e000000``). The version integer is TensorRT's: ``major*1000 + minor*100
+ patch`` before TensorRT 10, ``major*10000 + minor*100 + patch`` from 10 on.
Readers split a line at its last ``:`` and read the 8 digits two characters
after it, so names may contain ``:`` but not line breaks.

The scales written are the symmetric per-tensor scales calibration put on
the graph's activations: the same float32 numbers as in the Q/DQ model.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgec.plugin import Graph, ModelError, UsageError, activation_values

ALGORITHM = "EntropyCalibration2"
_HEADER = re.compile(r"TRT-(?P<version>\d+)-(?P<algorithm>\w+)")
_HEX = re.compile(r"[0-9a-fA-F]{8}")


@dataclass(frozen=True)
class CalibrationCache:
    version: int
    algorithm: str
    scales: dict[str, float]


def version_int(version: str) -> int:
    """``"8.6.1"`` -> 8601, ``"10.3.0"`` -> 100300 (TensorRT's own version integers)."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    major, minor, patch = [*parts, 0, 0, 0][:3]
    return major * (10000 if major >= 10 else 1000) + minor * 100 + patch


def encode_scale(scale: float) -> str:
    return struct.pack(">f", scale).hex()


def decode_scale(digits: str) -> float:
    return struct.unpack(">f", bytes.fromhex(digits))[0]


def cache_scales(graph: Graph) -> dict[str, float]:
    """Activation name -> scale, in graph order, from symmetric per-tensor ``Value.quant``."""
    scales = {}
    for value in activation_values(graph):
        params = value.quant
        if params is None:
            continue
        if params.axis is not None or np.any(np.asarray(params.zero_point) != 0) or params.dtype != np.int8:
            raise ModelError(
                f"tensor '{value.name}' has asymmetric or per-channel parameters; the TensorRT "
                f"calibration cache holds symmetric per-tensor int8 scales (calibrate with TENSORRT_SCHEME)"
            )
        scales[value.name] = float(np.float32(params.scale))
    return scales


def write_cache(scales: Mapping[str, float], version: int, algorithm: str = ALGORITHM) -> str:
    """The cache text for ``scales`` (tensor name -> scale)."""
    lines = [f"TRT-{version}-{algorithm}"]
    for name, scale in scales.items():
        if "\n" in name or "\r" in name:
            raise ModelError(
                f"tensor name {name!r} contains a line break; a calibration cache cannot hold it"
            )
        if not scale > 0:
            raise ModelError(f"tensor '{name}' has scale {scale}; TensorRT needs strictly positive scales")
        lines.append(f"{name}: {encode_scale(scale)}")
    return "\n".join(lines) + "\n"


def parse_cache(text: str, source: str = "calibration cache") -> CalibrationCache:
    """Read a cache as trtexec does: split each line at its last ':', 8 hex digits 2 characters on."""
    lines = text.splitlines()
    header = _HEADER.fullmatch(lines[0].strip()) if lines else None
    if header is None:
        first = lines[0] if lines else ""
        raise UsageError(f"{source}: line 1 is {first!r}, expected 'TRT-<version>-<algorithm>'")
    scales = {}
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        colon = line.rfind(":")
        digits = line[colon + 2 : colon + 10] if colon >= 0 else ""
        if colon < 0 or not _HEX.fullmatch(digits):
            raise UsageError(f"{source}:{number}: expected '<tensor name>: <8 hex digits>', got {line!r}")
        scales[line[:colon]] = decode_scale(digits)
    return CalibrationCache(int(header["version"]), header["algorithm"], scales)
