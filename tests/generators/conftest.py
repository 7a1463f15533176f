"""Fixtures of the generator tests: asyncio for anyio, the real default GGUF, and a short prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.generators.base import ChatMessage, Generator
from kefu.settings import Settings

#: A short prompt in the shape the answerer sends (for the servers that speak the LLM APIs).
MESSAGES = [
    ChatMessage("system", "只根据资料回答。"),
    ChatMessage("user", "资料：[1] 打包中一般是矿工费低。\n问题：转账一直打包中？"),
]


async def texts_until_failure(gen: Generator, error: type[Exception], match: str | None = None) -> list[str]:
    """The texts ``gen`` streamed for :data:`MESSAGES` before it failed with ``error``."""
    seen = []
    with pytest.raises(error, match=match):
        async for chunk in gen.stream(MESSAGES):
            seen.append(chunk.text)
    return seen


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def gguf(settings: Settings) -> Path:
    path = settings.default_gguf_path
    if not path.is_file():
        pytest.fail(f"no GGUF at {path}: run `make models` first")
    return path
