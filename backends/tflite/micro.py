"""Microcontroller bundles (TFLite Micro): the model as a C array, the op resolver, the arena.

Budgets come from the target's hardware entry (``flash_bytes``, ``ram_bytes``,
``alignment_bytes``); a model that does not fit stops the build with the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgec.backends.tflite.flatbuffer import TfliteModel, arena_estimate
from edgec.backends.tflite.op_support import micro_method, micro_missing
from edgec.plugin import Graph, TargetError, render

ARRAY_NAME = "g_model"

# The arena estimate counts live activations only; kernels' scratch buffers and the interpreter's
# bookkeeping come on top. Rough allowance, to be replaced by RecordingMicroInterpreter's figure.
ARENA_OVERHEAD_BYTES = 16 * 1024


def weight_bytes(graph: Graph) -> int:
    """Bytes of the model's float weights once quantized to int8 (one byte per element)."""
    return sum(value.size for value in graph.constants() if value.dtype.kind == "f")


def check_flash_early(graph: Graph, hardware: Mapping[str, Any], where: str) -> None:
    """Refuse before converting when the int8 weights alone exceed the flash budget."""
    needed, flash = weight_bytes(graph), int(hardware["flash_bytes"])
    if needed > flash:
        raise TargetError(
            f"{where}: the model's weights alone take {needed:,} bytes in int8, more than the "
            f"{flash:,} bytes of flash this target has (hardware.flash_bytes). Use a smaller model, "
            f"prune it, or give a board with more flash in a --targets-file entry."
        )


def check_budget(model_bytes: int, arena: int, hardware: Mapping[str, Any], where: str) -> None:
    flash, ram = int(hardware["flash_bytes"]), int(hardware["ram_bytes"])
    if model_bytes > flash:
        raise TargetError(
            f"{where}: the int8 model takes {model_bytes:,} bytes, more than the {flash:,} bytes of flash "
            f"(hardware.flash_bytes). Use a smaller model or a board with more flash (--targets-file)."
        )
    if arena > ram:
        raise TargetError(
            f"{where}: the tensor arena needs about {arena:,} bytes, more than the {ram:,} bytes of RAM "
            f"(hardware.ram_bytes). Use a smaller input shape (--input-shape) or model, or a board with "
            f"more RAM (--targets-file)."
        )


def write_sources(
    out_dir: Path, data: bytes, model: TfliteModel, hardware: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """model_data.h/.cc, op_resolver.h and micro_main.cc; what they contain, for the manifest."""
    missing = micro_missing(model.op_names())
    if missing:
        raise TargetError(
            f"{where}: TFLite Micro has no kernel for {', '.join(missing)}; change the model or choose a "
            f"TFLite target with a full runtime."
        )
    alignment = int(hardware["alignment_bytes"])
    arena = arena_estimate(model, alignment) + ARENA_OVERHEAD_BYTES
    arena = -(-arena // 1024) * 1024
    check_budget(len(data), arena, hardware, where)
    ops = [(op, micro_method(op)) for op in model.used_ops()]
    context = {"array": ARRAY_NAME, "alignment": alignment, "size": len(data), "ops": ops, "arena": arena}
    rows = [", ".join(f"0x{b:02x}" for b in data[i : i + 12]) for i in range(0, len(data), 12)]
    (out_dir / "model_data.h").write_text(render("tflite/model_data.h.j2", **context), encoding="utf-8")
    (out_dir / "model_data.cc").write_text(
        render("tflite/model_data.cc.j2", rows=rows, **context), encoding="utf-8"
    )
    (out_dir / "op_resolver.h").write_text(render("tflite/op_resolver.h.j2", **context), encoding="utf-8")
    (out_dir / "micro_main.cc").write_text(render("tflite/micro_main.cc.j2", **context), encoding="utf-8")
    return {"arena_bytes_estimate": arena, "model_bytes": len(data), "resolver_ops": [op for op, _ in ops]}
