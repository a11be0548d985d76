"""``edgec verify BUNDLE``: is this bundle what its manifest says, and does its artifact still agree?

1. Every file's sha256 against manifest.json ``files`` (report.json's without
   its per-pass seconds, ``bundle.content_sha256``); files missing from the
   bundle or present but not listed fail too (manifest.json and its signature
   excepted). Exit 20.
2. With a public key: the Ed25519 signature of manifest.json (signing.check). Exit 21.
3. Where a runtime for the artifact exists here (the bundle's backend says,
   ``bundle_runner``; ONNX Runtime for ``.onnx`` by default): the artifact on ``sample_input.npz`` against
   ``expected_output.npz`` (the input model's output), cosine per output at
   least the build's threshold for the precision (accuracy.MIN_COSINE). Exit 22.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgec import backend_registry, signing
from edgec.accuracy import MIN_COSINE
from edgec.backend_protocol import Runner
from edgec.bundle import MANIFEST, content_sha256
from edgec.errors import BundleMismatchError, OutputMismatchError
from edgec.metrics import cosine

NOT_LISTED = frozenset({MANIFEST, MANIFEST + signing.SIGNATURE_SUFFIX})


@dataclass(frozen=True)
class VerifyResult:
    """What ``edgec verify`` checked: files, signature and the artifact's outputs."""

    bundle: Path
    files: int
    signature: str  # "valid", "not checked (no --public-key)"
    runtime: str  # the runtime that ran the artifact, or why none did
    outputs: dict[str, dict[str, float]] = field(default_factory=dict)


def _manifest(bundle: Path) -> dict[str, Any]:
    path = bundle / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleMismatchError(f"{path}: cannot read the manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleMismatchError(f"{path}: not an edgec manifest (no 'files' table)")
    return manifest


def check_files(bundle: Path, listed: Mapping[str, str]) -> int:
    """BundleMismatchError naming every file that differs, is missing, or is not listed."""
    present = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() or p.is_symlink()}
    present -= NOT_LISTED
    problems = [f"{name}: missing" for name in sorted(set(listed) - present)]
    problems += [f"{name}: not listed in {MANIFEST}" for name in sorted(present - set(listed))]
    for name in sorted(set(listed) & present):
        path = bundle / name
        if path.is_symlink() or content_sha256(bundle, name) != listed[name]:
            problems.append(f"{name}: sha256 differs from {MANIFEST}")
    if problems:
        raise BundleMismatchError(f"{bundle}: {'; '.join(problems)}")
    return len(listed)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise BundleMismatchError(f"{path}: cannot read it ({exc})") from exc


def _runner(artifact: Path, manifest: Mapping[str, Any]) -> tuple[str, Runner] | None:
    """The bundle's backend's runner for its artifact, else ONNX Runtime for an ``.onnx`` one."""
    backend = backend_registry.loadable().get(str(manifest.get("backend", "")))
    offered = backend.bundle_runner(artifact, manifest) if backend is not None else None
    if offered is not None or artifact.suffix != ".onnx":
        return offered
    from edgec.runtime import run, session

    sess = session(artifact, threads=1)
    return "onnxruntime", lambda feeds: run(sess, feeds)


def check_outputs(bundle: Path, manifest: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, float]]]:
    """Run the artifact on sample_input.npz; OutputMismatchError naming the output that differs."""
    name = str(manifest.get("artifact", ""))
    if name not in manifest["files"]:
        raise BundleMismatchError(f"{bundle}: the artifact '{name}' is not among manifest.json's files")
    artifact = bundle / name
    found = _runner(artifact, manifest)
    if found is None:
        return f"none here for {artifact.name}: checked on the device", {}
    runtime, runner = found
    feeds = _load_npz(bundle / "sample_input.npz")
    expected = _load_npz(bundle / "expected_output.npz")
    actual = runner(feeds)
    threshold = MIN_COSINE.get(manifest.get("precision", ""), 0.99)
    results: dict[str, dict[str, float]] = {}
    for name, reference in expected.items():
        if name not in actual or actual[name].shape != reference.shape:
            raise OutputMismatchError(
                f"{bundle}: {artifact.name} under {runtime}: output '{name}' is missing or has another shape"
            )
        diff = np.abs(reference.astype(np.float64) - actual[name].astype(np.float64))
        results[name] = {"cosine": cosine(reference, actual[name]), "max_abs_error": float(diff.max())}
        if results[name]["cosine"] < threshold:
            raise OutputMismatchError(
                f"{bundle}: {artifact.name} under {runtime}: output '{name}' differs from "
                f"expected_output.npz (cosine {results[name]['cosine']:.6f} < {threshold} for "
                f"{manifest.get('precision')})"
            )
    return runtime, results


def verify_bundle(bundle: Path, public_key: Path | None = None, run: bool = True) -> VerifyResult:
    manifest = _manifest(bundle)
    files = check_files(bundle, manifest["files"])
    signature = "not checked (no --public-key)"
    if public_key is not None:
        signing.check(bundle / MANIFEST, public_key)
        signature = "valid"
    runtime, outputs = check_outputs(bundle, manifest) if run else ("not run (--no-run)", {})
    return VerifyResult(bundle, files, signature, runtime, outputs)
