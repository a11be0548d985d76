"""A content-addressed cache of bundles.

The key is a sha256 over everything that decides a bundle's bytes: the build
options with every file they name replaced by its content's hash (the model
with its external data, sample, calibration and validation data, catalogues,
a preprocess TOML), the target's resolved catalogue entry, the versions of
edgec's tools and a digest of edgec's own source and templates (so a changed
compiler never reuses an old bundle). Options that do not change the bytes
(output, force, dump_ir, sign_key; the catalogue file's path) are left out.

An entry is ``<root>/<key[:2]>/<key>/`` holding ``bundle/`` and ``entry.json``.
Entries appear by atomic rename; a hit restores the bundle into a staging
directory beside the destination and renames it into place (bundle.staging).
The cache is bounded by size: after each store the least recently used
entries (mtime of entry.json, touched on every hit) go first.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import uses_external_data

from edgec.bundle import sha256_file, staging
from edgec.resources import resource_path
from edgec.versions import tool_versions

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 5 * 1024**3
# Fields that never change a bundle's bytes: where it goes, whether it may replace one, debugging
# output, the signature (not cached), and the file a catalogue entry came from (its content counts;
# the path differs between machines that share a cache).
IGNORED_FIELDS = frozenset({"output", "force", "dump_ir", "sign_key", "source"})
# Files written after the bundle is complete that the cache does not keep.
NOT_CACHED = frozenset({"manifest.json.sig"})
ENTRY = "entry.json"


def default_root() -> Path:
    configured = os.environ.get("EDGEC_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgec"


def default_max_bytes() -> int:
    configured = os.environ.get("EDGEC_CACHE_MAX_BYTES")
    return int(configured) if configured else DEFAULT_MAX_BYTES


def _digest_dir(path: Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(sha256_file(item).encode())
    return digest.hexdigest()


def _external_files(model: Path) -> list[Path]:
    """The external-data files an ONNX model names (relative to its directory)."""
    if model.suffix != ".onnx":
        return []
    try:
        proto = onnx.load(str(model), load_external_data=False)
    except (OSError, ValueError, DecodeError):  # unreadable: the build reports it; the key hashes the bytes
        return []
    tensors = [*proto.graph.initializer]
    for node in proto.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    locations = {
        entry.value
        for tensor in tensors
        if uses_external_data(tensor)
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return sorted(model.parent / loc for loc in locations)


def digest_path(path: Path) -> dict[str, Any]:
    """A file's or directory's name and content hash (an ONNX model's external data included)."""
    if path.is_dir():
        return {"name": path.name, "dir_sha256": _digest_dir(path)}
    if not path.is_file():
        return {"name": path.name, "missing": True}
    described: dict[str, Any] = {"name": path.name, "sha256": sha256_file(path)}
    external = _external_files(path)
    if external:
        described["external"] = [digest_path(p) for p in external]
    return described


def canonical(value: Any) -> Any:
    """A JSON-ready form of build options in which every named file is its content hash."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        kept = {k: canonical(v) for k, v in fields.items() if k not in IGNORED_FIELDS}
        return {"__type__": type(value).__name__, **kept}
    if isinstance(value, Path):
        return digest_path(value)
    if isinstance(value, str) and value.endswith(".toml") and Path(value).is_file():
        return digest_path(Path(value))
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, dict | Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


@cache
def source_digest() -> str:
    """sha256 over edgec's Python sources, templates and catalogue as installed."""
    package = Path(__file__).resolve().parent
    roots = [package, resource_path("templates"), resource_path("targets.toml")]
    backends_dir = package.parent / "backends"
    if backends_dir.is_dir() and not (package / "backends").is_dir():
        roots.append(backends_dir)
    digest = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for item in files:
            if item.is_file() and item.suffix in {".py", ".j2", ".toml"}:
                name = item.name if root.is_file() else item.relative_to(root).as_posix()
                digest.update(name.encode() + b"\0" + sha256_file(item).encode())
    return digest.hexdigest()


def cache_key(options: Any, target: Any) -> str:
    """The key of the bundle ``options`` build for the resolved catalogue entry ``target``."""
    payload = {
        "options": canonical(options),
        "target": canonical(target),
        "tools": tool_versions(),
        "edgec_source": source_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    key: str
    entry: dict[str, Any]


class BuildCache:
    """Bundles by key under ``root``; at most ``max_bytes`` in total (LRU eviction)."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None) -> None:
        self.root = root if root is not None else default_root()
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()

    def _entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> Hit | None:
        entry_file = self._entry_dir(key) / ENTRY
        try:
            entry = json.loads(entry_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        os.utime(entry_file)
        return Hit(key, entry)

    def restore(
        self, hit: Hit, out_dir: Path, force: bool, finish: Callable[[Path], None] | None = None
    ) -> None:
        """Copy the cached bundle to ``out_dir`` atomically; ``finish`` runs on the staged copy first."""
        with staging(out_dir, force) as tmp:
            shutil.copytree(self._entry_dir(hit.key) / "bundle", tmp, dirs_exist_ok=True)
            if finish is not None:
                finish(tmp)

    def store(self, key: str, bundle: Path, entry: dict[str, Any]) -> None:
        """Keep a copy of ``bundle`` under ``key`` (first writer wins), then evict to the size bound."""
        final = self._entry_dir(key)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=final.parent))
        try:
            shutil.copytree(bundle, tmp / "bundle", ignore=lambda _d, names: NOT_CACHED & set(names))
            (tmp / ENTRY).write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
            try:
                tmp.rename(final)
            except OSError:  # another worker stored the same key first
                log.debug("cache entry %s already stored", key)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        self.evict()

    def entries(self) -> Iterator[tuple[float, int, Path]]:
        """(last use, bytes, directory) of every complete entry."""
        for entry_file in self.root.glob(f"*/*/{ENTRY}"):
            directory = entry_file.parent
            size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
            yield entry_file.stat().st_mtime, size, directory

    def evict(self) -> list[Path]:
        """Remove least recently used entries until the cache fits ``max_bytes``."""
        entries = sorted(self.entries())
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, directory in entries:
            if total <= self.max_bytes:
                break
            shutil.rmtree(directory, ignore_errors=True)
            total -= size
            removed.append(directory)
        if removed:
            log.info("build cache: evicted %d entries to stay under %d bytes", len(removed), self.max_bytes)
        return removed
