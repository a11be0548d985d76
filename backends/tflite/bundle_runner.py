"""A written bundle's .tflite under LiteRT, for ``edgec verify``: its ports as manifest.json describes them.

The manifest's ``inputs``/``outputs`` give each port's name, shape and
layout; NHWC ports of rank 4 are transposed from and back to the input
model's NCHW, and integer ports are quantized with the tensor's own scale
and zero point.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from edgec.plugin import Runner


def _perm(port: Mapping[str, Any]) -> list[int]:
    rank = len(port["shape"])
    return [0, 2, 3, 1] if port.get("layout") == "NHWC" and rank == 4 else list(range(rank))


def _run(model: Path, feeds: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> dict[str, np.ndarray]:
    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    for detail, port in zip(interpreter.get_input_details(), manifest["inputs"], strict=True):
        stored = np.transpose(feeds[port["name"]], _perm(port))
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            info = np.iinfo(detail["dtype"])
            stored = np.clip(np.round(stored / scale) + zero_point, info.min, info.max)
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(stored.astype(detail["dtype"])))
    interpreter.invoke()
    outputs = {}
    for detail, port in zip(interpreter.get_output_details(), manifest["outputs"], strict=True):
        array = interpreter.get_tensor(detail["index"])
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            array = (array.astype(np.float32) - zero_point) * np.float32(scale)
        outputs[port["name"]] = np.transpose(array, np.argsort(_perm(port)))
    return outputs


def bundle_runner(artifact: Path, manifest: Mapping[str, Any]) -> tuple[str, Runner] | None:
    """LiteRT for a ``.tflite`` artifact; None for any other."""
    if artifact.suffix != ".tflite":
        return None
    return "litert", lambda feeds: _run(artifact, feeds, manifest)
