"""Versions of the tools that shape an artifact, read from package metadata (nothing is imported).

The core's tools are listed here; each backend lists its own (its ``tools`` hook).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from edgec import backend_registry

# Distribution names per tool; the first one installed answers.
TOOLS: dict[str, tuple[str, ...]] = {
    "edgec": ("edgec",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "numpy": ("numpy",),
    "onnx-graphsurgeon": ("onnx-graphsurgeon", "onnx_graphsurgeon"),
}


@cache
def dist_version(dists: tuple[str, ...]) -> str | None:
    """The installed version of the first of ``dists`` that is installed (read once per process)."""
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def tool_versions(backend: str | None = None) -> dict[str, str]:
    """Installed versions of the core tools and, with ``backend``, of that backend's tools.

    Without ``backend``: those of the core and of every installed backend.
    """
    loaded = backend_registry.loadable()
    tools = dict(TOOLS)
    for name in [backend] if backend else sorted(loaded):
        tools |= loaded[name].tools if name in loaded else {}
    found = {name: dist_version(dists) for name, dists in tools.items()}
    return {name: v for name, v in found.items() if v is not None}
