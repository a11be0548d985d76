"""Versions of the tools that shape an artifact, read from package metadata (nothing is imported)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

# Distribution names per tool; the first one installed answers.
TOOLS: dict[str, tuple[str, ...]] = {
    "edgec": ("edgec",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "numpy": ("numpy",),
    "onnx-graphsurgeon": ("onnx-graphsurgeon", "onnx_graphsurgeon"),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "litert": ("ai-edge-litert",),
    "tensorrt": ("tensorrt",),
}

# Tools every build uses; the others only for the backends named.
CORE = ("edgec", "onnx", "onnxruntime", "numpy", "onnx-graphsurgeon")
BACKEND_TOOLS = {"tflite": ("tensorflow", "litert"), "tensorrt": ("tensorrt",)}


@cache
def tool_version(tool: str) -> str | None:
    """The installed version of ``tool`` (read once per process)."""
    for dist in TOOLS[tool]:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def tool_versions(backend: str | None = None) -> dict[str, str]:
    """Installed versions of the core tools and, with ``backend``, of that backend's converters.

    Without ``backend``: every tool edgec knows of that is installed.
    """
    names = list(CORE) + list(BACKEND_TOOLS.get(backend, ())) if backend else list(TOOLS)
    found = {name: tool_version(name) for name in names}
    return {name: v for name, v in found.items() if v is not None}
