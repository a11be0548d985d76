"""edgec's Python API: ``edgec.build``, ``edgec.build_matrix``, ``edgec.inspect``, ``edgec.targets``,
``edgec.verify``. The ``edgec`` command is a thin layer over these functions.

Errors are raised as ``edgec.errors.EdgecError`` subclasses, whose ``exit_code``
is the command's; matrix builds never raise for a failed cell (its result says).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgec.errors import TargetError, UsageError
from edgec.matrix import CacheConfig, CellResult, build_cell, exit_code, expand, run_matrix
from edgec.pipeline import BuildOptions
from edgec.verification import VerifyResult, verify_bundle


@dataclass(frozen=True)
class TargetInfo:
    """One entry of the target catalogue."""

    name: str
    group: str | None
    family: str
    backend: str
    precisions: tuple[str, ...]
    default_precision: str
    description: str


@dataclass(frozen=True)
class InspectResult:
    """What ``edgec inspect`` reports: the JSON-ready report and the IR text when asked for."""

    report: dict[str, Any]
    ir: str | None = None


@dataclass(frozen=True)
class MatrixResult:
    """Every cell's result in matrix order; ``exit_code`` 0 or the first failed cell's code."""

    cells: list[CellResult]
    exit_code: int
    seconds: float

    @property
    def hits(self) -> int:
        return sum(1 for cell in self.cells if cell.cache == "hit")

    @property
    def misses(self) -> int:
        return sum(1 for cell in self.cells if cell.cache == "miss")

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "cells_total": len(self.cells),
            "cells_ok": sum(1 for cell in self.cells if cell.status == "ok"),
            "cache": {"hits": self.hits, "misses": self.misses},
            "cells": [cell.as_dict() for cell in self.cells],
        }


PATH_OPTIONS = ("output", "sample_data", "dump_ir", "sign_key")


def _options(model: Path | str, target: str, **options: Any) -> BuildOptions:
    """BuildOptions from keyword arguments; path options may be given as strings."""
    for name in PATH_OPTIONS:
        if options.get(name) is not None:
            options[name] = Path(options[name])
    if "targets_files" in options:
        options["targets_files"] = tuple(Path(p) for p in options["targets_files"])
    return BuildOptions(model=Path(model), target=target, **options)


def build(
    model: Path | str,
    target: str,
    *,
    cache: bool | CacheConfig = True,
    **options: Any,
) -> CellResult:
    """Compile ``model`` for ``target`` into a bundle; raises EdgecError on failure.

    ``options`` are BuildOptions fields (output, precision, input_shapes, sample_data, force,
    quantization=QuantizationOptions(...), sign_key, ...). ``cache``: False or a CacheConfig.
    """
    config = cache if isinstance(cache, CacheConfig) else CacheConfig(enabled=cache)
    return build_cell(_options(model, target, **options), config.open())


def build_matrix(
    models: Sequence[Path | str] | Sequence[BuildOptions],
    targets: Sequence[str] = (),
    precisions: Sequence[str | None] = (None,),
    *,
    output: Path | str | None = None,
    jobs: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    cache: bool | CacheConfig = True,
    **options: Any,
) -> MatrixResult:
    """Build every model x target x precision (or the BuildOptions given) in parallel workers.

    Outputs go to ``<output or dist>/<model>-<target>[-<precision>]``.
    """
    started = time.perf_counter()
    config = cache if isinstance(cache, CacheConfig) else CacheConfig(enabled=cache)
    cells: list[BuildOptions] = []
    for model in models:
        if isinstance(model, BuildOptions):
            cells.append(model)
            continue
        if not targets:
            raise UsageError("build_matrix: give the targets to build the models for")
        base = _options(model, targets[0] if targets else "", **options)
        cells += expand(base, targets, precisions, Path(output) if output is not None else None)
    results = run_matrix(cells, config, jobs, executor, ray_address)
    return MatrixResult(results, exit_code(results), time.perf_counter() - started)


def inspect(
    model: Path | str,
    target: str | None = None,
    *,
    precision: str | None = None,
    runtime: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    targets_files: Sequence[Path] = (),
    ir: bool = False,
) -> InspectResult:
    """Ops, parameters, MACs, memory; what ``target`` cannot run and its latency estimate."""
    from edgec import backend_registry
    from edgec.analysis import inspect_model
    from edgec.backend_protocol import Unsupported
    from edgec.frontend import load_model
    from edgec.ir.printer import format_graph
    from edgec.passes import make_spec, run_passes
    from edgec.targets import load_catalogue

    chosen = None
    if target:
        chosen = load_catalogue(targets_files).select(target, runtime)
        chosen.resolve_precision(precision)
    batch = chosen.default_batch if chosen else 1
    graph = load_model(Path(model), dict(input_shapes or {}), default_batch=batch)
    run_passes(graph, [make_spec("cleanup")])
    if ir:
        return InspectResult({}, format_graph(graph))
    unsupported: list[Unsupported] | None = []
    if chosen is not None:
        try:
            unsupported = backend_registry.load(chosen.backend, chosen.name).check(graph, chosen)
        except TargetError:
            unsupported = None  # the backend or its extra is not installed: support unknown
    return InspectResult(inspect_model(graph, chosen, unsupported, precision=precision))


def targets(targets_files: Sequence[Path] = ()) -> list[TargetInfo]:
    """The target catalogue (edgec's targets.toml plus ``targets_files``)."""
    from edgec.targets import load_catalogue

    catalogue = load_catalogue(targets_files)
    return [
        TargetInfo(
            t.name, t.group, t.family, t.backend, tuple(t.precisions), t.default_precision, t.description
        )
        for t in catalogue.values()
    ]


def verify(bundle: Path | str, public_key: Path | str | None = None, run: bool = True) -> VerifyResult:
    """Re-hash, check the signature (with ``public_key``) and re-run a bundle; raises on a mismatch."""
    return verify_bundle(Path(bundle), Path(public_key) if public_key else None, run)


__all__ = [
    "BuildOptions",
    "CacheConfig",
    "CellResult",
    "InspectResult",
    "MatrixResult",
    "TargetInfo",
    "VerifyResult",
    "build",
    "build_matrix",
    "inspect",
    "targets",
    "verify",
]
