"""The ``[hardware]`` schema of the onnxruntime targets' family."""

from __future__ import annotations

from edgec.plugin import INTEGER, STRING, Schema

HARDWARE_SCHEMAS: dict[str, Schema] = {
    "x86-cpu": {"cpu": (STRING, True), "cores": (INTEGER, True), "isa": (STRING, True)},
}
