"""Resource limits checked before any work: tensor sizes and sample counts against memory.

A build holds several copies of a tensor at once (the IR, ONNX Runtime's
arena, the reference run), so one tensor may take at most a quarter of the
memory available when the build starts, and the samples of the accuracy
check or of calibration at most half of it. Counts also have fixed caps, so a
typo such as ``--samples 100000000000`` is refused on any machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgec.errors import UsageError

# Fixed caps of the sample-count options (--samples, --calibration-samples).
MAX_SAMPLES = 10_000
MAX_CALIBRATION_SAMPLES = 100_000
# Fractions of the available memory one tensor and one set of samples may take.
TENSOR_SHARE = 4
SAMPLES_SHARE = 2

_MEMINFO = Path("/proc/meminfo")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable; else free physical pages)."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def tensor_budget() -> int:
    return available_memory() // TENSOR_SHARE


def element_count(shape: Sequence[int]) -> int:
    """Exact (Python integers: no overflow) element count of a static shape."""
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


def tensor_bytes(shape: Sequence[int], dtype: np.dtype | type | None) -> int:
    itemsize = np.dtype(dtype).itemsize if dtype is not None else 4
    return element_count(shape) * max(itemsize, 1)


def format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def too_big(shape: Sequence[int], dtype: np.dtype | type | None, budget: int) -> str | None:
    """A description of why a tensor of ``shape`` does not fit ``budget`` bytes, or None if it does."""
    size = tensor_bytes(shape, dtype)
    if size <= budget:
        return None
    dims = "x".join(str(int(d)) for d in shape)
    return (
        f"shape {dims} ({element_count(shape):,} elements) would take {format_bytes(size)}, more than "
        f"the {format_bytes(budget)} edgec allows one tensor here (a quarter of the "
        f"{format_bytes(budget * TENSOR_SHARE)} of memory available)"
    )


def check_sample_count(option: str, count: int, per_sample: int) -> None:
    """UsageError when ``count`` samples of ``per_sample`` bytes each would take more than half the
    available memory; names the option and the largest count that fits."""
    budget = available_memory() // SAMPLES_SHARE
    if count * per_sample <= budget:
        return
    cap = max(budget // max(per_sample, 1), 0)
    raise UsageError(
        f"{option} {count}: {count} samples of {format_bytes(per_sample)} each would take "
        f"{format_bytes(count * per_sample)}, more than half of the {format_bytes(budget * SAMPLES_SHARE)} "
        f"of memory available; ask for at most {cap}"
    )
