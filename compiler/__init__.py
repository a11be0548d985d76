"""edgec: a deployment-target compiler for deep-learning inference on edge hardware.

The Python API (``edgec.build``, ``edgec.build_matrix``, ``edgec.inspect``,
``edgec.targets``, ``edgec.verify`` and their result types) loads on first
use, so ``import edgec`` stays light.
"""

from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

try:
    __version__ = version("edgec")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

_API = (
    "build",
    "build_matrix",
    "inspect",
    "verify",
    "BuildOptions",
    "CacheConfig",
    "CellResult",
    "InspectResult",
    "MatrixResult",
    "TargetInfo",
    "VerifyResult",
)


# `edgec.targets` names both a submodule (the catalogue) and the API function. Importing a submodule
# binds it on the package only when it is first loaded, so it is loaded here (it is light: tomllib and
# edgec.errors) and the name is then bound to the function; `from edgec.targets import ...` still
# reaches the module through sys.modules.
import_module("edgec.targets")


def targets(targets_files: Sequence[Path] = ()) -> list[Any]:
    """The target catalogue as ``edgec.TargetInfo`` rows (see ``edgec.api.targets``)."""
    return import_module("edgec.api").targets(targets_files)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module("edgec.api"), name)
    raise AttributeError(f"module 'edgec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
