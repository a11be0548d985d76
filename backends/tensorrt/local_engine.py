"""The engine built here, in-process, when TensorRT and an NVIDIA GPU are present (``--build-engine``).

The bundle's own build_engine.py does the build, so the in-process engine
has exactly the settings of the one built on the device; its device check
refuses a GPU or TensorRT release other than the target's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgec.plugin import TargetError

ENGINE = "model.engine"


def gpu_count() -> int:
    """CUDA devices visible through the CUDA runtime; 0 when it is not installed."""
    name = ctypes.util.find_library("cudart")
    if name is None:
        return 0
    try:
        cudart = ctypes.CDLL(name)
    except OSError:
        return 0
    count = ctypes.c_int(0)
    return count.value if cudart.cudaGetDeviceCount(ctypes.byref(count)) == 0 else 0


def require_builder() -> None:
    """Refuse --build-engine unless ``tensorrt`` imports and a GPU is visible."""
    missing = []
    if importlib.util.find_spec("tensorrt") is None:
        missing.append("TensorRT's Python package (`import tensorrt` fails)")
    if gpu_count() == 0:
        missing.append("an NVIDIA GPU with the CUDA runtime")
    if missing:
        raise TargetError(
            f"--build-engine builds the TensorRT engine on this machine, which lacks "
            f"{' and '.join(missing)}. "
            f"Build without --build-engine and run build_engine.sh (or build_engine.py) on the Jetson."
        )


def build_here(bundle: Path) -> dict[str, Any]:
    """Run the bundle's build_engine.py with this interpreter; the engine lands in the bundle."""
    done = subprocess.run(
        [sys.executable, str(bundle / "build_engine.py"), "--engine", str(bundle / ENGINE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise TargetError(
            f"--build-engine: build_engine.py failed with status {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return {"file": ENGINE, "built": "in-process with build_engine.py"}
