"""Fixtures of the generator tests: asyncio for anyio, and the real default GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def gguf(settings: Settings) -> Path:
    path = settings.default_gguf_path
    if not path.is_file():
        pytest.fail(f"no GGUF at {path}: run `make models` first")
    return path
