"""The limits a server generator takes, without a server."""

from __future__ import annotations

import pytest

from kefu.generators.ollama import OllamaGenerator
from kefu.generators.openai_compat import OpenAICompatibleGenerator
from kefu.generators.server import DEFAULT_LIMITS


def test_limits_not_given_take_their_defaults() -> None:
    gen = OpenAICompatibleGenerator("http://127.0.0.1:9/v1", "m", temperature=0.5)
    assert (gen.timeout, gen.connect_timeout, gen.max_tokens) == (
        DEFAULT_LIMITS["timeout"],
        DEFAULT_LIMITS["connect_timeout"],
        DEFAULT_LIMITS["max_tokens"],
    )
    assert gen.temperature == 0.5


def test_a_misspelt_or_bad_limit_is_refused() -> None:
    with pytest.raises(TypeError, match="timout"):
        OllamaGenerator("http://127.0.0.1:9", "m", timout=5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="timeouts"):
        OllamaGenerator("http://127.0.0.1:9", "m", connect_timeout=0)
