"""Many builds in one run: cells (model x target x precision), the cache, parallel workers.

Cells whose bundle is in the cache are restored here, in the calling process,
without compiling. The others run in worker processes: a standard-library
``ProcessPoolExecutor`` (spawn) for the local executor, Ray tasks for
``executor="ray"``. A worker builds its bundle as ``edgec build`` does
(atomically, in a staging directory) and stores it in the cache, which must
be a directory every worker can reach. One failing cell does not stop the
others; its error and exit code are in its result.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from edgec import progress, signing
from edgec.bundle import MANIFEST, safe_name, sha256_file
from edgec.cache import BuildCache, cache_key, default_max_bytes, default_root
from edgec.errors import EdgecError, UsageError
from edgec.pipeline import BuildOptions, build, default_output
from edgec.targets import Catalogue, load_catalogue

log = logging.getLogger(__name__)

# Memory one worker may need for a small model's build with TensorFlow loaded (measured ~0.75 GB RSS
# for a TFLite build of a small CNN); the default -j leaves room for that per worker.
WORKER_MEMORY_BYTES = 1536 * 1024**2


@dataclass(frozen=True)
class CacheConfig:
    """Where the cache lives and its size bound; ``enabled=False`` is --no-cache."""

    enabled: bool = True
    root: Path | None = None
    max_bytes: int | None = None

    def open(self) -> BuildCache | None:
        return BuildCache(self.root, self.max_bytes) if self.enabled else None


@dataclass(frozen=True)
class CellResult:
    """One cell of a build: what the JSON summary says about it."""

    model: str
    target: str
    precision: str | None
    status: str  # "ok" or "failed"
    exit_code: int
    bundle: str | None
    manifest_sha256: str | None
    seconds: float
    cache: str  # "hit", "miss" or "off"
    accuracy: dict[str, Any] | None = None
    artifact_bytes: int | None = None
    min_cosine: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_jobs() -> int:
    """The CPU count this process may use, bounded by available memory / WORKER_MEMORY_BYTES."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    available = _available_memory()
    by_memory = max(1, available // WORKER_MEMORY_BYTES) if available else cpus
    return max(1, min(cpus, by_memory))


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cell_output(root: Path, model: Path, target: str, precision: str | None) -> Path:
    """<root>/<model>-<target>[-<precision>]."""
    suffix = f"-{safe_name(precision)}" if precision else ""
    return root / f"{safe_name(model.stem)}-{safe_name(target)}{suffix}"


def check_outputs(cells: Sequence[BuildOptions]) -> None:
    """UsageError when two cells would write the same bundle directory."""
    seen: dict[Path, BuildOptions] = {}
    for cell in cells:
        out = (cell.output or Path("dist")).resolve()
        if out in seen:
            other = seen[out]
            raise UsageError(
                f"two builds write '{cell.output}': {other.model} for {other.target} and {cell.model} for "
                f"{cell.target}; give the models different file names or the cells different outputs"
            )
        seen[out] = cell


def _summary(options: BuildOptions, bundle: Path, seconds: float, cache: str) -> CellResult:
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    report = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
    accuracy = report.get("accuracy")
    cosines = [m["cosine"] for m in (accuracy or {}).get("outputs", {}).values()]
    return CellResult(
        model=options.model.name,
        target=manifest["target"],
        precision=manifest["precision"],
        status="ok",
        exit_code=0,
        bundle=str(bundle),
        manifest_sha256=sha256_file(bundle / MANIFEST),
        seconds=round(seconds, 3),
        cache=cache,
        accuracy=accuracy,
        artifact_bytes=manifest["sizes"]["artifact_bytes"],
        min_cosine=min(cosines) if cosines else None,
    )


@lru_cache(maxsize=16)
def _catalogue(files: tuple[tuple[Path, int, int], ...]) -> Catalogue:
    return load_catalogue([path for path, _, _ in files])


def _key(options: BuildOptions) -> tuple[str, str]:
    """The cell's cache key and resolved target name; the catalogue is read once per set of files
    (and their mtimes and sizes)."""
    stats = [
        (p, p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (p, 0, 0)
        for p in options.targets_files
    ]
    target = _catalogue(tuple(stats)).select(options.target, options.runtime)
    return cache_key(options, target), target.name


def _signer(options: BuildOptions) -> Callable[[Path], None] | None:
    """Signs a restored bundle's manifest before it is renamed into place (signatures are not cached)."""
    key = options.sign_key
    if key is None:
        return None

    def sign(staged: Path) -> None:
        signing.sign(staged / MANIFEST, key)

    return sign


def restore(options: BuildOptions, cache: BuildCache) -> CellResult | None:
    """The cell's bundle from the cache, or None on a miss. Raises what the restore refuses.

    A build with --dump-ir always compiles: the dump is what it asks for."""
    if options.dump_ir is not None:
        return None
    started = time.perf_counter()
    key, target = _key(options)
    hit = cache.lookup(key)
    if hit is None:
        return None
    out = options.output or default_output(options.model, target)
    cache.restore(hit, out, options.force, _signer(options))
    log.info("cache hit: %s for %s -> %s", options.model.name, options.target, out)
    return _summary(options, out, time.perf_counter() - started, "hit")


def build_cell(options: BuildOptions, cache: BuildCache | None) -> CellResult:
    """Build one cell (restoring it from ``cache`` when there); raises EdgecError on failure."""
    if cache is not None:
        restored = restore(options, cache)
        if restored is not None:
            return restored
    started = time.perf_counter()
    key = _key(options)[0] if cache is not None else None  # of the inputs as they were when the build began
    result = build(options)
    seconds = time.perf_counter() - started
    summary = _summary(options, result.bundle, seconds, "miss" if cache is not None else "off")
    if cache is not None and key is not None:
        cache.store(key, result.bundle, {"manifest_sha256": summary.manifest_sha256})
    return summary


def failed(options: BuildOptions, exc: BaseException, seconds: float, cache: str) -> CellResult:
    code = exc.exit_code if isinstance(exc, EdgecError) else 1
    message = str(exc) if isinstance(exc, EdgecError) else f"internal error: {type(exc).__name__}: {exc}"
    return CellResult(
        model=options.model.name,
        target=options.target,
        precision=options.precision,
        status="failed",
        exit_code=code,
        bundle=None,
        manifest_sha256=None,
        seconds=round(seconds, 3),
        cache=cache,
        error=message,
    )


def run_cell(
    options: BuildOptions, cache_config: CacheConfig, log_level: int | None = None, events: Any = None
) -> CellResult:
    """A worker's task: one cell, its failure caught into the result (picklable both ways).

    ``events`` (a queue) carries the cell's progress events to the parent process."""
    if log_level is not None:
        progress.log_to_stderr(log_level)
    forward = progress.subscribe(lambda kind, fields: events.put((kind, fields))) if events else None
    started = time.perf_counter()
    try:
        with progress.context(model=options.model.name, target=options.target, precision=options.precision):
            return build_cell(options, cache_config.open())
    except Exception as exc:
        log.debug("cell %s %s failed", options.model, options.target, exc_info=True)
        return failed(options, exc, time.perf_counter() - started, "miss" if cache_config.enabled else "off")
    finally:
        if forward is not None:
            forward()


def _report(result: CellResult) -> CellResult:
    progress.emit("cell", **{k: v for k, v in result.as_dict().items() if k != "accuracy"})
    return result


def _relay(events: Any) -> None:
    """Re-emit the workers' progress events here until the None that ends them."""
    for kind, fields in iter(events.get, None):
        progress.emit(kind, **fields)


def _run_local(cells: Sequence[BuildOptions], cache: CacheConfig, jobs: int) -> list[CellResult]:
    if jobs <= 1 or len(cells) <= 1:
        return [_report(run_cell(cell, cache)) for cell in cells]
    results: dict[int, CellResult] = {}
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("edgec").getEffectiveLevel()
    with context.Manager() as manager, ProcessPoolExecutor(min(jobs, len(cells)), mp_context=context) as pool:
        events = manager.Queue()
        relay = threading.Thread(target=_relay, args=(events,), daemon=True)
        relay.start()
        futures = {pool.submit(run_cell, cell, cache, level, events): i for i, cell in enumerate(cells)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = _report(future.result())
            except Exception as exc:  # the worker process died (e.g. killed for memory)
                results[index] = _report(failed(cells[index], exc, 0.0, "miss"))
        events.put(None)
        relay.join()
    return [results[i] for i in range(len(cells))]


def _absolute(options: BuildOptions) -> BuildOptions:
    """The cell with absolute paths, for workers whose working directory is not this one."""

    def absolute(path: Path | None) -> Path | None:
        return path.resolve() if path is not None else None

    quantization = replace(
        options.quantization,
        calibration_data=absolute(options.quantization.calibration_data),
        validation_data=absolute(options.quantization.validation_data),
    )
    return replace(
        options,
        model=options.model.resolve(),
        output=absolute(options.output),
        sample_data=absolute(options.sample_data),
        dump_ir=absolute(options.dump_ir),
        sign_key=absolute(options.sign_key),
        targets_files=tuple(p.resolve() for p in options.targets_files),
        quantization=quantization,
    )


def _run_ray(
    cells: Sequence[BuildOptions], cache: CacheConfig, address: str | None, jobs: int
) -> list[CellResult]:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--executor ray needs Ray: pip install 'edgec[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else jobs, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(run_cell)
        level = logging.getLogger("edgec").getEffectiveLevel()
        pending = {task.remote(_absolute(cell), cache, level): i for i, cell in enumerate(cells)}
        results: dict[int, CellResult] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            results[index] = _report(ray.get(done[0]))
        return [results[i] for i in range(len(cells))]
    finally:
        if started_here:
            ray.shutdown()


def run_matrix(
    cells: Sequence[BuildOptions],
    cache: CacheConfig,
    jobs: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> list[CellResult]:
    """Every cell's result, in the order of ``cells``: cache hits restored here, misses on workers."""
    check_outputs(cells)
    # Workers get the cache's place as resolved here, not their own environment's.
    root = (cache.root or default_root()).resolve()
    cache = replace(cache, root=root, max_bytes=cache.max_bytes or default_max_bytes())
    progress.emit("cells", total=len(cells))
    opened = cache.open()
    results: dict[int, CellResult] = {}
    misses: list[int] = []
    for i, cell in enumerate(cells):
        started = time.perf_counter()
        try:
            restored = restore(cell, opened) if opened is not None else None
        except Exception as exc:
            restored = failed(cell, exc, time.perf_counter() - started, "miss")
        if restored is None:
            misses.append(i)
        else:
            results[i] = _report(restored)
    todo = [cells[i] for i in misses]
    jobs = jobs or default_jobs()
    if executor == "ray":
        built = _run_ray(todo, cache, ray_address, jobs) if todo else []
    else:
        built = _run_local(todo, cache, jobs)
    results.update(zip(misses, built, strict=True))
    return [results[i] for i in range(len(cells))]


def exit_code(results: Sequence[CellResult]) -> int:
    """0 when every cell built; otherwise the exit code of the first failed cell in matrix order."""
    return next((r.exit_code for r in results if r.status != "ok"), 0)


def expand(
    base: BuildOptions, targets: Sequence[str], precisions: Sequence[str | None], root: Path | None
) -> list[BuildOptions]:
    """One BuildOptions per target x precision; outputs under ``root`` (default dist/)."""
    root = root if root is not None else Path("dist")
    name_precision = len(precisions) > 1 or precisions[0] is not None
    return [
        replace(
            base,
            target=target,
            precision=precision,
            output=cell_output(root, base.model, target, precision if name_precision else None),
        )
        for target in targets
        for precision in precisions
    ]
