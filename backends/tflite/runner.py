"""Running a .tflite here with the LiteRT interpreter (never the deprecated tf.lite.Interpreter).

The runner takes and returns tensors named and laid out as the input model's
(logical order): it transposes each input into its stored order, quantizes it
when the model's inputs are integer, and undoes both on the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from edgec.plugin import Graph, stored_perm


@dataclass(frozen=True)
class Port:
    """One model input or output: its name in the input model, stored order and tensor details."""

    name: str
    perm: tuple[int, ...]
    index: int
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer) and self.scale != 0.0

    def describe(self) -> dict[str, Any]:
        return {"dtype": self.dtype.name, "scale": self.scale, "zero_point": self.zero_point}


def _ports(details: list[dict[str, Any]], graph_values: list) -> list[Port]:
    ports = []
    for detail, value in zip(details, graph_values, strict=True):
        scale, zero_point = detail["quantization"]
        ports.append(
            Port(
                value.name, stored_perm(value), detail["index"], np.dtype(detail["dtype"]), scale, zero_point
            )
        )
    return ports


class LiteRTRunner:
    """A callable for the accuracy check: logical feeds in, logical outputs out."""

    def __init__(self, model: bytes, graph: Graph, threads: int = 1) -> None:
        self.interpreter = Interpreter(model_content=model, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.inputs = _ports(self.interpreter.get_input_details(), graph.inputs)
        self.outputs = _ports(self.interpreter.get_output_details(), graph.outputs)

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.invoke_stored([to_stored(port, feeds[port.name]) for port in self.inputs])
        return {port.name: from_stored(port, out) for port, out in zip(self.outputs, outputs, strict=True)}

    def invoke_stored(self, stored: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One inference on inputs already in the model's stored layout and dtype, as a device app
        calls it: reset the variable tensors (a fused integer LSTM's states start at their initial
        value each call), set each input, invoke, get each output (stored layout)."""
        self.interpreter.reset_all_variables()
        for port, array in zip(self.inputs, stored, strict=True):
            self.interpreter.set_tensor(port.index, array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(port.index) for port in self.outputs]


def to_stored(port: Port, array: np.ndarray) -> np.ndarray:
    stored = np.transpose(np.asarray(array), port.perm)
    if port.quantized:
        info = np.iinfo(port.dtype)
        stored = np.clip(np.round(stored / port.scale) + port.zero_point, info.min, info.max)
    return np.asarray(stored.astype(port.dtype), order="C")  # keeps a scalar 0-d


def from_stored(port: Port, array: np.ndarray) -> np.ndarray:
    result = array
    if port.quantized:
        result = (array.astype(np.float32) - port.zero_point) * np.float32(port.scale)
    return np.transpose(result, np.argsort(port.perm))
