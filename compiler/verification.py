"""``edgec verify BUNDLE``: is this bundle what its manifest says, and does its artifact still agree?

1. Every file's sha256 against manifest.json ``files`` (report.json's without
   its per-pass seconds, ``bundle.content_sha256``); files missing from the
   bundle or present but not listed fail too (manifest.json and its signature
   excepted). Exit 20.
2. With a public key: the Ed25519 signature of manifest.json (signing.check). Exit 21.
3. Where a runtime for the artifact exists here (ONNX Runtime for ``.onnx``,
   LiteRT for ``.tflite``): the artifact on ``sample_input.npz`` against
   ``expected_output.npz`` (the input model's output), cosine per output at
   least the build's threshold for the precision (accuracy.MIN_COSINE). Exit 22.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgec import signing
from edgec.accuracy import MIN_COSINE
from edgec.bundle import MANIFEST, content_sha256
from edgec.errors import BundleMismatchError, OutputMismatchError

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


def _run_onnx(model: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from edgec.runtime import run, session

    return run(session(model, threads=1), feeds)


def _perm(port: Mapping[str, Any]) -> list[int]:
    rank = len(port["shape"])
    return [0, 2, 3, 1] if port.get("layout") == "NHWC" and rank == 4 else list(range(rank))


def _run_tflite(
    model: Path, feeds: Mapping[str, np.ndarray], manifest: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    for detail, port in zip(interpreter.get_input_details(), manifest["inputs"], strict=True):
        stored = np.transpose(feeds[port["name"]], _perm(port))
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            info = np.iinfo(detail["dtype"])
            stored = np.clip(np.round(stored / scale) + zero_point, info.min, info.max)
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(stored.astype(detail["dtype"])))
    interpreter.invoke()
    outputs = {}
    for detail, port in zip(interpreter.get_output_details(), manifest["outputs"], strict=True):
        array = interpreter.get_tensor(detail["index"])
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            array = (array.astype(np.float32) - zero_point) * np.float32(scale)
        outputs[port["name"]] = np.transpose(array, np.argsort(_perm(port)))
    return outputs


def _cosine(expected: np.ndarray, actual: np.ndarray) -> float:
    a = expected.astype(np.float64).ravel()
    b = actual.astype(np.float64).ravel()
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else float(np.array_equal(a, b))


def _runtime_for(artifact: Path) -> str | None:
    if artifact.suffix == ".onnx":
        return "onnxruntime"
    if artifact.suffix == ".tflite" and importlib.util.find_spec("ai_edge_litert") is not None:
        return "litert"
    return None


def check_outputs(bundle: Path, manifest: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, float]]]:
    """Run the artifact on sample_input.npz; OutputMismatchError naming the output that differs."""
    name = str(manifest.get("artifact", ""))
    if name not in manifest["files"]:
        raise BundleMismatchError(f"{bundle}: the artifact '{name}' is not among manifest.json's files")
    artifact = bundle / name
    runtime = _runtime_for(artifact)
    if runtime is None:
        return f"none here for {artifact.name}: checked on the device", {}
    feeds = _load_npz(bundle / "sample_input.npz")
    expected = _load_npz(bundle / "expected_output.npz")
    actual = (
        _run_onnx(artifact, feeds) if runtime == "onnxruntime" else _run_tflite(artifact, feeds, manifest)
    )
    threshold = MIN_COSINE.get(manifest.get("precision", ""), 0.99)
    results: dict[str, dict[str, float]] = {}
    for name, reference in expected.items():
        if name not in actual or actual[name].shape != reference.shape:
            raise OutputMismatchError(
                f"{bundle}: {artifact.name} under {runtime}: output '{name}' is missing or has another shape"
            )
        diff = np.abs(reference.astype(np.float64) - actual[name].astype(np.float64))
        results[name] = {"cosine": _cosine(reference, actual[name]), "max_abs_error": float(diff.max())}
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
