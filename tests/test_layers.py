"""The layer order of edgec's modules, measured: each module is imported in a fresh interpreter and
the edgec modules that import loaded are checked against the table below.

A module may load modules of its own group and of groups of a lower rank, nothing else. Groups of
one rank are peers that do not load each other (compression and quantization share
``edgec.ir.weight_matrices``, the data and metrics layers, not each other's modules), so every
dependency between groups points down the table and no cycle between packages can form.
Importing the frontend, or anything at or below the passes, loads no runtime (ONNX Runtime,
TensorFlow, LiteRT, TensorRT): edgec.runtime and what needs it load it.

The backends under backends/ are not probed here (they sit beside the driver); no core module
below the driver may load one. A module missing from the table fails the test: place it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# (group, rank, module prefixes). "edgec" itself is the package's __init__ only.
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (
        "base",
        0,
        (
            "edgec",
            "edgec.backend_protocol",
            "edgec.backend_registry",
            "edgec.errors",
            "edgec.limits",
            "edgec.progress",
            "edgec.resources",
            "edgec.targets",
            "edgec.templating",
            "edgec.versions",
        ),
    ),
    ("ir", 1, ("edgec.ir",)),
    ("data", 2, ("edgec.data",)),
    ("metrics", 2, ("edgec.metrics", "edgec.budget")),
    ("runtime", 2, ("edgec.runtime", "edgec.streaming")),
    ("passes", 3, ("edgec.passes",)),
    ("frontend", 4, ("edgec.frontend",)),
    ("compression", 4, ("edgec.compression",)),
    ("quantization", 4, ("edgec.quantization",)),
    (
        "driver",
        5,
        (
            "edgec.accuracy",
            "edgec.analysis",
            "edgec.api",
            "edgec.backends",
            "edgec.buildfile",
            "edgec.bundle",
            "edgec.cache",
            "edgec.compare",
            "edgec.costmodel",
            "edgec.html_report",
            "edgec.layer_error",
            "edgec.matrix",
            "edgec.pipeline",
            "edgec.shape_profile",
            "edgec.signing",
            "edgec.verification",
        ),
    ),
    ("cli", 6, ("edgec.cli",)),
    ("plugin", 6, ("edgec.plugin",)),
)
RUNTIME_FREE_RANK = 3  # the passes and everything below them but the runtime group
RUNTIME_FREE_GROUPS = ("frontend",)
RUNTIME_GROUP = "runtime"
RUNTIMES = ("onnxruntime", "tensorflow", "ai_edge_litert", "tflite_runtime", "tensorrt")

COMPILER = Path(__file__).resolve().parents[1] / "compiler"
PROBE = (
    "import importlib, sys\n"
    "importlib.import_module(sys.argv[1])\n"
    "for name in sorted(sys.modules):\n"
    "    print(name)\n"
)


def group_of(module: str) -> tuple[str, int] | None:
    """The (group, rank) whose longest prefix names ``module``; None when the table lacks it."""
    best: tuple[int, str, int] | None = None
    for group, rank, prefixes in LAYERS:
        for prefix in prefixes:
            matches = module == prefix or (prefix != "edgec" and module.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), group, rank)
    return (best[1], best[2]) if best else None


def violations(loads: Mapping[str, set[str]]) -> list[str]:
    """Every loaded module of a higher rank, or of a peer group, than the module imported."""
    found = []
    for module, loaded in sorted(loads.items()):
        group, rank = group_of(module) or ("?", -1)
        for other in sorted(loaded):
            other_group, other_rank = group_of(other) or ("?", -1)
            if other_group != group and other_rank >= rank:
                found.append(
                    f"{module} ({group}, rank {rank}) loads {other} ({other_group}, rank {other_rank})"
                )
    return found


def runtime_loads(loads: Mapping[str, set[str]]) -> list[str]:
    """Modules at or below the passes, or of the frontend, whose import loads a runtime."""
    found = []
    for module, loaded in sorted(loads.items()):
        group, rank = group_of(module) or ("?", -1)
        if (rank <= RUNTIME_FREE_RANK and group != RUNTIME_GROUP) or group in RUNTIME_FREE_GROUPS:
            found += [f"{module} ({group}) loads {runtime}" for runtime in RUNTIMES if runtime in loaded]
    return found


def core_modules() -> list[str]:
    """Every module of compiler/ but ``__main__`` (importing it runs the CLI)."""
    names = []
    for path in sorted(COMPILER.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        parts = list(path.relative_to(COMPILER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(["edgec", *parts]))
    return names


def _probe(module: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.fail(f"importing {module} in a fresh interpreter failed:\n{done.stderr}")
    top = {name.split(".")[0] for name in done.stdout.split()}
    edgec = {name for name in done.stdout.split() if name == "edgec" or name.startswith("edgec.")}
    return edgec | (top & set(RUNTIMES))


@pytest.fixture(scope="module")
def loads() -> dict[str, set[str]]:
    """Module -> the edgec modules (and runtimes) importing it in a fresh interpreter loads."""
    modules = core_modules()
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(modules, pool.map(_probe, modules), strict=True))


def test_every_module_has_a_layer() -> None:
    assert [m for m in core_modules() if group_of(m) is None] == []


def test_no_module_loads_a_higher_layer(loads: dict[str, set[str]]) -> None:
    found = violations(loads)
    assert not found, "layer order broken:\n" + "\n".join(found)


def test_the_frontend_and_the_layers_below_the_engines_load_no_runtime(loads: dict[str, set[str]]) -> None:
    found = runtime_loads(loads)
    assert not found, "\n".join(found)
    assert len([m for m in loads["edgec.frontend"] if m.startswith("edgec")]) < 45


def test_the_check_names_a_violation() -> None:
    loads = {
        "edgec.metrics": {"edgec", "edgec.metrics", "edgec.pipeline"},
        "edgec.compression.stage": {"edgec.compression", "edgec.quantization.qdq"},
        "edgec.passes.cleanup": {"edgec.passes", "edgec.ir.graph", "onnxruntime"},
    }
    assert violations(loads) == [
        "edgec.compression.stage (compression, rank 4) loads edgec.quantization.qdq (quantization, rank 4)",
        "edgec.metrics (metrics, rank 2) loads edgec.pipeline (driver, rank 5)",
    ]
    assert runtime_loads(loads) == ["edgec.passes.cleanup (passes) loads onnxruntime"]
