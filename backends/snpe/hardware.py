"""The ``[hardware]`` schema of the Snapdragon family (REFERENCE B4/B5)."""

from __future__ import annotations

from edgec.plugin import BOOLEAN, STRING, Schema

HARDWARE_SCHEMAS: dict[str, Schema] = {
    "snapdragon": {
        "soc": (STRING, True),
        "soc_id": (STRING, True),
        "hexagon": (STRING, True),
        "has_aip": (BOOLEAN, True),
        "runtime": (STRING, True),
        "in_snpe2_device_list": (BOOLEAN, True),
    },
}
