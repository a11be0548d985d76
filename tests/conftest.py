"""Test-suite wide settings: verify() runs after every pass in every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgec.passes.instruments import PassContext, VerifyIR

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


@pytest.fixture
def edgec_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """caplog for edgec's loggers, which the CLI keeps from propagating to the root logger."""
    logger = logging.getLogger("edgec")
    monkeypatch.setattr(logger, "handlers", [caplog.handler])
    monkeypatch.setattr(logger, "propagate", False)
    caplog.set_level(logging.DEBUG, logger="edgec")
    yield caplog


@pytest.fixture(autouse=True)
def _verify_after_each_pass() -> Iterator[None]:
    with PassContext((VerifyIR(),)):
        yield


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """../shared/models beside the checkout (CI puts shared/ there)."""
    if not SHARED_MODELS.is_dir():
        pytest.fail(f"the real models are expected in {SHARED_MODELS}")
    return SHARED_MODELS


@pytest.fixture(autouse=True)
def _private_build_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test gets its own, empty build cache: no test sees another's bundles or ~/.cache."""
    monkeypatch.setenv("EDGEC_CACHE_DIR", str(tmp_path_factory.mktemp("edgec-cache")))
