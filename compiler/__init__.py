"""edgec: a deployment-target compiler for deep-learning inference on edge hardware.

The Python API (``edgec.build``, ``edgec.build_matrix``, ``edgec.inspect``,
``edgec.targets``, ``edgec.verify`` and their result types) loads on first
use, so ``import edgec`` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("edgec")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

_API = (
    "build",
    "build_matrix",
    "inspect",
    "targets",
    "verify",
    "BuildOptions",
    "CacheConfig",
    "CellResult",
    "InspectResult",
    "MatrixResult",
    "TargetInfo",
    "VerifyResult",
)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module("edgec.api"), name)
    raise AttributeError(f"module 'edgec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
