"""Backends are plugins: entry points in the group ``edgec.backends``.

Each entry point names an object that satisfies ``Backend``: it declares the
backend's name, says which nodes of a target-ready graph it cannot run (and
why), lists the passes it wants after cleanup, and writes its artifacts into
a bundle directory. Targets name their backend in targets.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgec.errors import TargetError

if TYPE_CHECKING:
    from edgec.ir.graph import Graph
    from edgec.passes.manager import PassSpec
    from edgec.targets import Target

GROUP = "edgec.backends"

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Unsupported:
    """A node the target cannot run, and why."""

    node: str
    op: str
    reason: str


@dataclass
class Artifact:
    """What a backend wrote: the main file, the other files, and how to run it here.

    ``runner`` executes the artifact on this machine for the accuracy check
    (None when nothing here can run it); it takes and returns tensors named
    and laid out as the input model's. ``run_instructions`` (Markdown) and
    ``device_checks`` (what only the device can check) go into the bundle's
    README. ``report`` (what the backend measured) goes into report.json
    under "backend".
    """

    main: str
    runner: Runner | None
    run_instructions: str
    device_checks: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildRequest:
    """What a backend needs to know about the build besides the graph."""

    target: Target
    precision: str
    model_name: str
    options: Mapping[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        """Every node of ``graph`` that ``target`` cannot run, with the reason."""
        ...

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        """Backend-specific passes that run after the target's default passes."""
        ...

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        """Write the artifacts and scripts for ``graph`` into ``out_dir``."""
        ...


def available() -> dict[str, Callable[[], Backend]]:
    """Installed backends by name; loading one imports its package."""
    return {ep.name: ep.load for ep in entry_points(group=GROUP)}


def load(name: str, target_name: str) -> Backend:
    loaders = available()
    if name not in loaders:
        installed = ", ".join(sorted(loaders)) or "none"
        raise TargetError(
            f"target '{target_name}' needs the backend '{name}', which is not installed "
            f"(installed backends: {installed}). Choose a target served by an installed backend "
            f"(`edgec targets` lists them) or install the backend's package."
        )
    try:
        return loaders[name]()
    except ModuleNotFoundError as exc:
        raise missing_dependency(name, target_name, exc) from exc


def missing_dependency(name: str, target_name: str, exc: ModuleNotFoundError) -> TargetError:
    """The backend's extra is not installed: exit 6 with the command that installs it."""
    return TargetError(
        f"target '{target_name}' needs the '{name}' backend's Python package '{exc.name or exc}', which is "
        f"not installed. Install the backend's extra: pip install 'edgec[{name}]'"
    )
