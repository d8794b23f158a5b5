"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.support import paths


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not paths.PARKING_ROW.exists():
        pytest.fail(f"sample footage not found at {paths.MEDIA}; set GRIDWATCH_SHARED to the shared/ folder")
    return paths.MEDIA


@pytest.fixture(scope="session")
def model_path() -> Path:
    if not paths.MODEL.exists():
        pytest.fail(
            f"detector weights not found at {paths.MODEL}; set GRIDWATCH_SHARED to the shared/ folder"
        )
    return paths.MODEL


@pytest.fixture(autouse=True)
def _forget_cli_logging() -> Iterator[None]:
    """A CLI's ``main()`` points logging at the calling test's captured stderr; no later test may write there."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
