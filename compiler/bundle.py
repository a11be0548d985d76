"""Bundles appear whole or not at all, and the same inputs give the same bytes.

A bundle is written into a hidden temporary directory beside its final
place and renamed into place when complete; on any error the temporary
directory is removed. An existing bundle is replaced only with ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgec.errors import OutputExistsError

MANIFEST = "manifest.json"


def safe_name(text: str, fallback: str = "model") -> str:
    """A file-name-safe rendering of untrusted text: [A-Za-z0-9._-], no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:80] or fallback


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def check_output(out_dir: Path, force: bool) -> None:
    """Refuse, before any work, to overwrite an existing path without ``force``."""
    if out_dir.exists() and not force:
        raise OutputExistsError(
            f"output '{out_dir}' already exists; pass --force to replace it or -o to choose another directory"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(
            f"output '{out_dir}' exists and is not a directory; remove it or choose another -o"
        )


@contextmanager
def staging(out_dir: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``out_dir`` when the block succeeds."""
    check_output(out_dir, force)
    parent = out_dir.resolve().parent
    created = _missing_ancestors(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    done = False
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        _replace(tmp, out_dir.resolve())
        done = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if not done:
            _remove_empty(created)


def _remove_empty(directories: list[Path]) -> None:
    """Remove the directories staging created, deepest first, while they are empty: a build running
    beside this one may have put its own bundle into a shared parent meanwhile."""
    for directory in directories:
        if any(directory.iterdir()):
            return
        directory.rmdir()


def _missing_ancestors(path: Path) -> list[Path]:
    """The directories mkdir(parents=True) would create for ``path``, deepest first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing


def _replace(new: Path, final: Path) -> None:
    if not final.exists():
        new.rename(final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    old.rmdir()
    final.rename(old)
    try:
        new.rename(final)
    except OSError:
        old.rename(final)
        raise
    shutil.rmtree(old)


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` except the manifest, by relative POSIX path."""
    hashes = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST:
            hashes[path.relative_to(directory).as_posix()] = sha256_file(path)
    return hashes
