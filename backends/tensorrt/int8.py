"""INT8 for TensorRT: explicit Q/DQ ONNX (8.5 and later) and a calibration cache for implicit builds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgec.backends import Runner
from edgec.backends.tensorrt.stack import Stack
from edgec.errors import TargetError
from edgec.ir.graph import Graph


def emit(
    graph: Graph,
    model: onnx.ModelProto,
    stack: Stack,
    samples: Sequence[Mapping[str, np.ndarray]],
    out_dir: Path,
) -> tuple[Runner, dict[str, Any]]:
    raise TargetError(
        "int8 for TensorRT needs edgec's quantization engine (edgec.quantization), which is not "
        "available in this build; use --precision fp16."
    )
