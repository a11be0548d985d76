"""Public recurrent ONNX models taken from pinned package wheels, cached outside the repository.

Each wheel is fetched once with ``pip download --no-deps`` into ``$EDGEC_ZOO_CACHE`` (default
``~/.cache/edgec-zoo``), its sha256 checked, and the model file extracted and checked too. When
the package index cannot be reached the test is skipped with a message naming the model.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class WheelModel:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    sha256: str
    why: str


SILERO_VAD = WheelModel(
    "silero-vad",
    "6.2.0",
    "silero_vad-6.2.0-py3-none-any.whl",
    "8a31f1e58e73cdc20820d842f757e678e0ae1b0ee1cb7b8aa50f20f8fd7f7638",
    "silero_vad/data/silero_vad_16k_op15.onnx",
    "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
    "MIT; a stateful LSTM voice-activity model (1-D convolution STFT front end, If nodes on shapes, "
    "state [2, batch, 128] as input 'state' and output 'stateN')",
)
DDDDOCR_CRNN = WheelModel(
    "ddddocr",
    "1.6.1",
    "ddddocr-1.6.1-py3-none-any.whl",
    "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935",
    "ddddocr/common.onnx",
    "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8",
    "MIT; a CRNN OCR model: convolutions, then a bidirectional LSTM (hidden 512) over the columns",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEC_ZOO_CACHE", Path.home() / ".cache" / "edgec-zoo"))


def fetch(model: WheelModel) -> Path:
    """The model file, fetched and verified (a test using it is skipped when it cannot be fetched)."""
    root = cache_dir()
    target = root / f"{model.package}-{model.version}" / model.member
    if target.is_file() and _sha256(target) == model.sha256:
        return target
    wheel = root / "dl" / model.wheel
    if not wheel.is_file():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheel.parent)]
        result = subprocess.run(
            [*command, f"{model.package}=={model.version}"], capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0 or not wheel.is_file():
            pytest.skip(f"{model.member} from {model.package}=={model.version}: the wheel cannot be fetched")
    if _sha256(wheel) != model.wheel_sha256:
        raise AssertionError(f"{wheel} does not have the pinned sha256 {model.wheel_sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(model.member))
    if _sha256(target) != model.sha256:
        raise AssertionError(f"{target} does not have the pinned sha256 {model.sha256}")
    return target
