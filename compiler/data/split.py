"""The share of ``--calibration-data`` held out to judge the build.

With ``--calibration-data`` and no ``--validation-data``, the last samples
(in the data's order: sorted file names, then array order) are held out:
20 % of the samples used, at least 8. Without ``--calibration-samples`` that
is the last ``max(8, ceil(T / 5))`` of all T samples; with
``--calibration-samples N`` the first N calibrate and the next
``max(8, ceil(N / 4))`` are held out (20 % of the N + held-out used). The
held-out samples never calibrate (nor refit a compression pass); they are the
int8 simulation's validation data and the accuracy check's samples (unless
``--sample-data`` gives those). Data too small to hold out that share and
still calibrate on 8 (or on N) samples is not split but warned about: all of it calibrates, the check judges
``--sample-data`` or random inputs, and the int8 simulation is measured on
random inputs (never on the samples that calibrated).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgec.data.datasets import Dataset, load_dataset
from edgec.data.preprocess import Preprocess
from edgec.errors import UsageError
from edgec.ir.graph import Value

log = logging.getLogger(__name__)

HELD_OUT_SHARE = 0.2
MIN_HELD_OUT = 8
MIN_CALIBRATION = 8


@dataclass(frozen=True)
class Split:
    """``calibration`` is samples ``[0, len(calibration))`` of the data, ``held_out`` the next ones."""

    calibration: Dataset
    held_out: Dataset

    def indices(self) -> tuple[range, range]:
        used = len(self.calibration)
        return range(used), range(used, used + len(self.held_out))

    def report(self) -> dict[str, Any]:
        calibrating, held = self.indices()
        source = Path(self.calibration.source).name
        return {
            "calibrated": {
                "source": source,
                "count": len(calibrating),
                "indices": {"first": calibrating[0], "last": calibrating[-1]},
            },
            "held_out": {
                "source": source,
                "count": len(held),
                "indices": {"first": held[0], "last": held[-1]},
            },
        }


def held_out_count(total: int) -> int:
    return max(MIN_HELD_OUT, math.ceil(total * HELD_OUT_SHARE))


def split_calibration(
    path: Path, inputs: Sequence[Value], preprocess: Preprocess | None, count: int | None
) -> Split | None:
    """Load ``path`` and split it into calibration and held-out samples (module docstring); None, with
    a warning, when too few samples remain to calibrate."""
    if count is None:
        data = load_dataset(path, inputs, preprocess)
        held = held_out_count(len(data))
        if len(data) - held >= MIN_CALIBRATION:
            return Split(data.rows(0, len(data) - held), data.rows(len(data) - held, len(data)))
        _warn(path, f"has {len(data)} sample(s)", held)
        return None
    held = max(MIN_HELD_OUT, math.ceil(count / 4))
    try:
        data = load_dataset(path, inputs, preprocess, count + held)
    except UsageError as exc:
        if "fewer than" not in str(exc):
            raise
        _warn(path, f"has fewer than --calibration-samples {count} + {held}", held)
        return None
    return Split(data.rows(0, count), data.rows(count, count + held))


def _warn(path: Path, has: str, held: int) -> None:
    log.warning(
        "calibration data '%s' %s: too few to hold out %d (20 %%, at least %d) for the accuracy check and "
        "calibrate on the rest (at least %d); all of it calibrates, the check judges --sample-data or "
        "random inputs and the int8 simulation is measured on random inputs. Give at least %d samples, "
        "or held-out inputs from another source with --validation-data",
        path,
        has,
        held,
        MIN_HELD_OUT,
        MIN_CALIBRATION,
        MIN_HELD_OUT + MIN_CALIBRATION,
    )
