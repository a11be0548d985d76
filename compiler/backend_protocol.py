"""What a backend is, as the core sees it: the protocol, its request and artifact types, its hooks.

A backend is an object named by an entry point in the group
``edgec.backends`` (``edgec.backend_registry`` finds it). It declares its
name, says which nodes of a target-ready graph it cannot run (and why),
lists the passes it wants after cleanup, and writes its artifacts into a
bundle directory. Targets name their backend in targets.toml.

Its optional hooks (defaults here; subclass ``Backend`` to inherit them)
say what else it brings: its typed options and the command-line argument
group that sets them, the ``[hardware]`` schemas of its target families,
the tools whose versions shape its artifacts, and what its runtime makes of
2:4 structured sparsity, and what runs its written artifact here for
``edgec verify``. ``quantization_scheme(target) -> QuantScheme`` is
optional too (edgec.quantization.build asks for it).

This module imports no backend and nothing above the IR, so every layer may
use its types.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from edgec.ir.graph import Graph
    from edgec.passes.manager import PassSpec
    from edgec.quantization.quantize_graph import QuantizationResult
    from edgec.targets import Schema, Target

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
class BackendOptions:
    """A backend's typed options: subclass it with one defaulted field per flag of its argument group.

    A field's metadata ``flag`` names the flag that sets it (default
    ``--<field-name>``): a flag given for a target of another backend is
    refused naming it.
    """

    # Who takes these flags, in refusals ("for TensorRT (Jetson) targets only"); default the backend's name.
    label: ClassVar[str] = ""

    def given(self) -> tuple[str, ...]:
        """The flags whose values differ from their defaults."""
        defaults = type(self)()
        return tuple(
            f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            for f in fields(self)
            if getattr(self, f.name) != getattr(defaults, f.name)
        )

    def input_shapes(self, model: Path, shapes: Mapping[str, Sequence[int]]) -> Mapping[str, Sequence[int]]:
        """The static input shapes to compile at, given the user's ``--input-shape``s."""
        return shapes


@dataclass(frozen=True)
class SparseKernels:
    """Whether a target's runtime runs 2:4 structured-sparse kernels, the facts that say so, the switch."""

    capable: bool
    facts: str
    flag: str = ""


@dataclass(frozen=True)
class BuildRequest:
    """What a backend needs to know about the build besides the graph.

    ``samples`` are the accuracy check's inputs, ``sample_data`` the file they
    came from (None: random inputs drawn with ``seed``), ``quantization`` the
    quantization engine's result (int8 builds), ``options`` the backend's own.
    """

    target: Target
    precision: str
    model_name: str
    options: BackendOptions = field(default_factory=BackendOptions)
    samples: Sequence[Mapping[str, np.ndarray]] = ()
    sample_data: Path | None = None
    seed: int = 0
    quantization: QuantizationResult | None = None


class Backend(Protocol):
    name: str
    # Family -> the keys of its targets' [hardware] table (validated when the catalogue loads).
    hardware_schemas: ClassVar[Mapping[str, Schema]] = {}
    # Tool -> the distributions that provide it; their versions go into manifest.json.
    tools: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # What ``parse_options`` returns; its defaults serve builds that set none of its flags.
    options_type: ClassVar[type[BackendOptions]] = BackendOptions

    def check(self, graph: Graph, target: Target) -> list[Unsupported]:
        """Every node of ``graph`` that ``target`` cannot run, with the reason."""
        ...

    def passes(self, target: Target, precision: str) -> list[PassSpec]:
        """Backend-specific passes that run after the target's default passes."""
        ...

    def emit(self, graph: Graph, request: BuildRequest, out_dir: Path) -> Artifact:
        """Write the artifacts and scripts for ``graph`` into ``out_dir``."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this backend's argument group to ``edgec build``'s parser (default: none)."""

    def parse_options(self, args: argparse.Namespace) -> BackendOptions:
        """The parsed command line as this backend's options (``UsageError`` for a malformed value)."""
        return self.options_type()

    def bundle_runner(self, artifact: Path, manifest: Mapping[str, Any]) -> tuple[str, Runner] | None:
        """The runtime here for a written bundle's artifact (``edgec verify``) and a runner on it; None:
        the default (ONNX Runtime for an ``.onnx`` artifact, else nothing here runs it)."""
        return None

    def sparse_kernels(self, target: Target) -> SparseKernels:
        """What ``target``'s runtime makes of 2:4 structured sparsity (default: dense kernels only)."""
        return SparseKernels(False, f"the {target.backend} runtime of {target.name} runs dense kernels only")
