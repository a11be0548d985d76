"""Bundles appear whole or not at all, and the same inputs give the same bytes.

A bundle is written into a hidden staging directory beside its final place
(``.NAME.<pid>-<random>.tmp``, the pid of the build that owns it) and renamed
into place when complete; on any error the staging directory is removed. A
lock file beside the output (``.NAME.lock``, held with ``flock``) keeps two
builds from writing one output at once; staging directories whose build died
are removed by the next build of that output.

``--force`` replaces only an edgec bundle (a directory holding manifest.json),
never the current directory, the input model or a directory containing either.
The final rename checks the destination again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgec.errors import OutputExistsError

MANIFEST = "manifest.json"
REPORT = "report.json"
# report.json's per-pass seconds (edgec.passes.PassTiming): the one thing that differs between two
# builds of the same inputs. The build writes them into report.json last, after report.html and the
# README took its size and hash, and the hash manifest.json lists for report.json leaves them out.
PASS_TIMING = "pass_timing"


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


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    path.write_text(_json_text(data), encoding="utf-8")


def content_sha256(bundle: Path, name: str) -> str:
    """The sha256 manifest.json lists for the bundle file ``name``: of its bytes, except for
    report.json: of the text ``write_json`` gives for it without ``pass_timing`` (unreadable: its bytes)."""
    path = bundle / name
    if name != REPORT:
        return sha256_file(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return sha256_file(path)
    if not isinstance(report, dict) or PASS_TIMING not in report:
        return sha256_file(path)
    del report[PASS_TIMING]
    return hashlib.sha256(_json_text(report).encode("utf-8")).hexdigest()


def is_bundle(path: Path) -> bool:
    """A directory edgec wrote: its manifest.json is a JSON object with ``edgec_version``."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "edgec_version" in manifest


def _contains(directory: Path, path: Path) -> bool:
    return path == directory or path.is_relative_to(directory)


def _replace_refusal(out_dir: Path, protected: Sequence[Path]) -> str | None:
    """Why ``--force`` must not replace ``out_dir``, or None when it may."""
    final = out_dir.resolve()
    if _contains(final, Path.cwd().resolve()):
        return "it is the current directory or contains it"
    for path in protected:
        if _contains(final, path.resolve()):
            return f"it contains the input '{path}'"
    if not is_bundle(final):
        return f"it holds no edgec bundle (no {MANIFEST} written by edgec), so it is not edgec's to replace"
    return None


def _check_parent(out_dir: Path) -> None:
    """The nearest existing ancestor of ``out_dir`` must be a directory we can create entries in."""
    ancestor = out_dir.resolve().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputExistsError(
            f"cannot create output '{out_dir}': '{ancestor}' is a file, not a directory; choose another -o"
        )
    try:  # a real probe: access() says yes to root even where nothing can be created (/proc)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}-", suffix=".tmp", dir=ancestor))
    except OSError as exc:
        raise OutputExistsError(
            f"cannot create output '{out_dir}': nothing can be created in '{ancestor}' "
            f"({exc.strerror or exc}); choose another -o"
        ) from exc


def check_output(out_dir: Path, force: bool, protected: Sequence[Path] = ()) -> None:
    """Refuse, before any work, an output that exists (without ``force``), that ``force`` must not
    replace, or that cannot be created. ``protected``: paths (the input model) never replaced."""
    _check_parent(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise OutputExistsError(
            f"output '{out_dir}' exists and is not a directory; remove it or choose another -o"
        )
    if not force:
        raise OutputExistsError(
            f"output '{out_dir}' already exists; pass --force to replace it or -o to choose another directory"
        )
    reason = _replace_refusal(out_dir, protected)
    if reason is not None:
        raise OutputExistsError(f"--force will not replace '{out_dir}': {reason}. Choose another -o.")


@contextmanager
def staging(out_dir: Path, force: bool, protected: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``out_dir`` when the block succeeds."""
    check_output(out_dir, force, protected)
    final = out_dir.resolve()  # a symlink's target: the directory that holds the bundle
    parent = final.parent
    created = _missing_ancestors(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputExistsError(f"cannot create output '{out_dir}': {exc.strerror or exc}") from exc
    done = False
    try:
        with _output_lock(parent, final):
            remove_stale(parent, final.name)
            tmp = _make_staging(parent, final)
            try:
                yield tmp
                os.chmod(tmp, 0o755)
                _replace(tmp, final, force, protected)
                done = True
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
    finally:
        if not done:
            for directory in created:
                with contextlib.suppress(OSError):
                    directory.rmdir()


def _make_staging(parent: Path, out_dir: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{os.getpid()}-", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputExistsError(f"cannot create output '{out_dir}': {exc.strerror or exc}") from exc


@contextmanager
def _output_lock(parent: Path, out_dir: Path) -> Iterator[None]:
    """An exclusive flock on ``.NAME.lock`` beside the output; removed again on release."""
    path = parent / f".{out_dir.name}.lock"
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            raise OutputExistsError(f"cannot create output '{out_dir}': {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputExistsError(
                f"another edgec build is writing output '{out_dir}' right now; "
                "wait for it or choose another -o"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file was removed and re-created by a build that just finished: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


_STAGING = r"\.{name}\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp"


def remove_stale(parent: Path, name: str) -> list[Path]:
    """Remove the staging directories of ``name`` whose build process is gone; return them."""
    pattern = re.compile(_STAGING.format(name=re.escape(name)))
    removed = []
    for entry in parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not _alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this build holds the lock, so a directory with its own pid is a leftover too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _missing_ancestors(path: Path) -> list[Path]:
    """The directories mkdir(parents=True) would create for ``path``, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _replace(new: Path, final: Path, force: bool, protected: Sequence[Path]) -> None:
    """Rename ``new`` to ``final``, checking ``final`` again: something may have appeared there."""
    if not final.exists() and not final.is_symlink():
        _rename_new(new, final)
        return
    check_output(final, force, protected)
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}-", suffix=".old", dir=final.parent))
    old.rmdir()
    final.rename(old)
    try:
        _rename_new(new, final)
    except OutputExistsError:
        old.rename(final)
        raise
    shutil.rmtree(old)


def _rename_noreplace(new: Path, final: Path) -> None:
    """rename(2) that fails with EEXIST when ``final`` exists, even as an empty directory (Linux
    renameat2 RENAME_NOREPLACE); elsewhere a plain rename, which fails on a non-empty directory."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(final), noreplace) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(final))
    new.rename(final)


def _rename_new(new: Path, final: Path) -> None:
    try:
        _rename_noreplace(new, final)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise OutputExistsError(
                f"output '{final}' appeared while edgec was building; it was left untouched and no bundle "
                f"was written. Run again with another -o"
            ) from exc
        raise OutputExistsError(f"cannot create output '{final}': {exc.strerror or exc}") from exc


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` except the manifest, by relative POSIX path."""
    hashes = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and name != MANIFEST:
            hashes[name] = content_sha256(directory, name)
    return hashes
