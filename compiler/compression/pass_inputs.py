"""Calibration inputs for the compression passes and running an IR state on them.

Passes take their data as options (an .npz path keyed by input name, the
format of ``--sample-data``; seeded random inputs without one). Everything
runs with ONNX Runtime on the exported IR: one session per graph state,
one run per sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.data.samples import load_samples, random_samples, unreserved
from edgec.ir.graph import Graph
from edgec.ir.onnx_export import to_onnx
from edgec.runtime import Feeds, run, session

Outputs = list[dict[str, np.ndarray]]


@dataclass(frozen=True)
class CalibrationOptions:
    """The calibration data of a data-aware compression pass: the fields its options share."""

    calibration: str = field(default="", metadata={"help": ".npz of inputs by name (default: random inputs)"})
    samples: int = field(default=8, metadata={"help": "calibration samples used"})
    seed: int = field(default=0, metadata={"help": "seed of random calibration inputs"})
    reserve: int = field(
        default=0,
        metadata={"help": "every Nth calibration sample is left for the build to judge on (0: none)"},
    )


def calibration_feeds(graph: Graph, options: CalibrationOptions) -> list[dict[str, np.ndarray]]:
    """The first ``samples`` samples of the .npz ``calibration``, or ``samples`` seeded random ones,
    less the ``reserve``d ones."""
    if options.calibration:
        data = load_samples(Path(options.calibration), graph.inputs).head(options.samples)
    else:
        data = random_samples(graph.inputs, options.samples, options.seed)
    return unreserved(list(data.samples()), options.reserve)


def run_all(graph: Graph, feeds: Sequence[Feeds], extra_outputs: Iterable[str] = ()) -> Outputs:
    """The graph's outputs (and ``extra_outputs``) for every feed, from one session."""
    sess = session(to_onnx(graph, extra_outputs=tuple(extra_outputs)), threads=1)
    return [run(sess, feed) for feed in feeds]
