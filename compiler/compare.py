"""``edgec compare``: the per-layer int8 debugger on a build's own data, writing nothing.

The build runs up to the backend (frontend, passes, calibration on the
calibration share, the Q/DQ simulation); then the float graph and the
simulation run side by side on the accuracy check's samples
(edgec.quantization.debug): per-tensor SNR and cosine in graph order, the
first tensor where the error jumps, and the float islands that would fix it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from edgec.pipeline import CHECK_LIMIT, BuildOptions, prepare
from edgec.quantization.debug import CEILING_DB, JUMP_DB, compare_tensors, float_islands
from edgec.templating import render


def compare_layers(options: BuildOptions, islands: int = 3) -> dict[str, Any]:
    """The debugger's report (``islands`` 0: no sensitivity ranking)."""
    target, compiled = prepare(options)
    result = compiled.quantized
    assert result is not None and result.float_graph is not None
    judged = replace(compiled.samples.head(CHECK_LIMIT), labels=None)  # islands judge agreement, not labels
    table = compare_tensors(result.float_graph, result.qdq, list(judged.samples()))
    fix = float_islands(result, judged, islands) if islands else None
    return {
        "model": options.model.name,
        "target": target,
        "judged": compiled.samples.describe(),
        "calibrated": {
            "source": Path(result.calibration_data.source).name,
            "count": len(result.calibration_data),
        },
        "summary": table.summary(),
        "tensors": table.as_dict(),
        "float_islands": fix,
    }


def format_comparison(report: dict[str, Any]) -> str:
    return render("compare.txt.j2", report=report, jump_db=JUMP_DB, ceiling_db=CEILING_DB)
