"""Which ops of a .tflite LiteRT's default XNNPACK delegate takes, as this LiteRT applies it.

After ``allocate_tensors`` the interpreter's node list holds the model's ops
followed by one DELEGATE node per delegated partition; a delegate node's
inputs and outputs are the tensors that cross the partition's edge. An op is
left to LiteRT's own kernels when its outputs are computed outside any
partition: not a partition output, but a partition input, a model output, or
read by another op left out. Host-side facts (this machine's LiteRT and
XNNPACK), for benchmarks and tests; a device's LiteRT may delegate more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ai_edge_litert.interpreter import Interpreter


@dataclass(frozen=True)
class Delegation:
    partitions: int
    left_out: tuple[str, ...]  # op names, in model order


def _left_out(ops: list[dict[str, Any]], model_outputs: set[int]) -> list[dict[str, Any]]:
    partitions = [op for op in ops if op["op_name"] == "DELEGATE"]
    crossing_in = {int(t) for op in partitions for t in op["inputs"]}
    crossing_out = {int(t) for op in partitions for t in op["outputs"]}
    readers: dict[int, list[int]] = {}
    for op in ops:
        if op["op_name"] != "DELEGATE":
            for tensor in op["inputs"]:
                readers.setdefault(int(tensor), []).append(op["index"])
    outside: set[int] = set()
    for op in reversed([op for op in ops if op["op_name"] != "DELEGATE"]):
        outputs = [int(t) for t in op["outputs"]]
        if any(t in crossing_out for t in outputs):
            continue
        if any(
            t in crossing_in or t in model_outputs or outside.intersection(readers.get(t, ()))
            for t in outputs
        ):
            outside.add(op["index"])
    return [op for op in ops if op["index"] in outside]


def xnnpack_delegation(model: bytes) -> Delegation:
    """The XNNPACK partitions of ``model`` and the ops left out of them (single thread)."""
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # the only view of the delegated node list LiteRT offers
    outputs = {detail["index"] for detail in interpreter.get_output_details()}
    partitions = sum(1 for op in ops if op["op_name"] == "DELEGATE")
    return Delegation(partitions, tuple(op["op_name"] for op in _left_out(ops, outputs)))
