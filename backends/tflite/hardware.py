"""The ``[hardware]`` schemas of the TFLite families; every one says which TFLite runtime runs it."""

from __future__ import annotations

from edgec.plugin import BOOLEAN, INTEGER, NUMBER, STRING, Schema

_RUNTIME: Schema = {"runtime": (STRING, True), "integer_only": (BOOLEAN, True), "io_dtype": (STRING, False)}

HARDWARE_SCHEMAS: dict[str, Schema] = {
    "arm-cpu": {
        "soc": (STRING, True),
        "cpu": (STRING, True),
        "cores": (INTEGER, True),
        "clock_ghz": (NUMBER, True),
        "isa": (STRING, True),
        "fp16_arithmetic": (BOOLEAN, True),
        "dot_product": (BOOLEAN, True),
        **_RUNTIME,
    },
    "mobile-gpu": dict(_RUNTIME),
    "edgetpu": {
        "on_chip_memory_mb": (NUMBER, True),
        "max_varying_dims": (INTEGER, True),
        "compiler_host": (STRING, True),
        **_RUNTIME,
    },
    "mcu": {
        "core": (STRING, True),
        "clock_mhz": (INTEGER, True),
        "flash_bytes": (INTEGER, True),
        "ram_bytes": (INTEGER, True),
        "fpu": (BOOLEAN, True),
        "alignment_bytes": (INTEGER, True),
        **_RUNTIME,
    },
}
