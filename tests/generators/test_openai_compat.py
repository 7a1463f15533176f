"""OpenAICompatibleGenerator against a local server that speaks the OpenAI chat API over real HTTP."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from kefu.errors import BackendTimeoutError, BackendUnavailableError, BadInputError, ConfigError, ModelNotFoundError
from kefu.generators import GenerationOptions, generate, generator_from_settings
from kefu.generators.openai_compat import OpenAICompatibleGenerator
from kefu.generators.pool import HostPool
from kefu.settings import Settings
from tests.fakes.ollama_server import ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.generators.conftest import MESSAGES, texts_until_failure

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MODEL = "Qwen/Qwen2.5-3B-Instruct"
TOKENS = ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI({MODEL: ScriptedModel(tokens=TOKENS, prompt_eval_count=57)}).start()
    yield fake
    fake.stop()


@contextlib.asynccontextmanager
async def opened(base_url: str, model: str = MODEL, **options: Any) -> AsyncIterator[OpenAICompatibleGenerator]:
    """A generator closed at the end (its connections belong to the test's event loop)."""
    gen = OpenAICompatibleGenerator(base_url, model, **options)
    try:
        yield gen
    finally:
        await gen.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streams_tokens_in_order_and_reports_usage(server: FakeOpenAI) -> None:
    gen = OpenAICompatibleGenerator(server.url, MODEL, max_tokens=100, temperature=0.1)
    chunks = [c async for c in gen.stream(MESSAGES, GenerationOptions(stop=("\n\n",)))]
    await gen.close()

    assert [c.text for c in chunks if not c.done] == TOKENS
    final = chunks[-1]
    assert final.done and final.finish_reason == "stop" and final.text == ""
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (57, 8)
    sent = server.requests[-1]
    assert sent["model"] == MODEL and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0] == {"role": "system", "content": "只根据资料回答。"}
    assert (sent["max_tokens"], sent["temperature"], sent["stop"]) == (100, 0.1, ["\n\n"])
    # No key configured: the client still sends one, which local servers ignore.
    assert server.headers[-1]["authorization"] == "Bearer none"


async def test_generate_collects_text_and_a_length_finish(server: FakeOpenAI) -> None:
    gen = OpenAICompatibleGenerator(server.url, MODEL)
    result = await generate(gen, MESSAGES, GenerationOptions(max_tokens=3))
    await gen.close()
    assert result.text == "转账打包中通常"
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 3
    assert result.model == f"openai:{MODEL}"
    assert "stop" not in server.requests[-1]


async def test_the_fake_answers_like_the_api_for_the_official_client(server: FakeOpenAI) -> None:
    # Guards the fake: the official client parses its replies, streamed and not.
    client = openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0)
    reply = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "".join(TOKENS)
    assert reply.choices[0].finish_reason == "stop" and reply.usage is not None and reply.usage.total_tokens == 65
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    events = [event async for event in stream]
    assert all(event.usage is None for event in events)  # no usage event unless asked for
    assert events[0].choices[0].delta.role == "assistant"
    assert events[-1].choices[0].finish_reason == "stop"
    assert [m.id for m in (await client.models.list()).data] == [MODEL]
    await client.close()


async def test_a_server_that_sends_no_usage_still_ends_the_stream(server: FakeOpenAI) -> None:
    # Some servers ignore stream_options: the answer must still end with a done chunk.
    server.usage_events = False
    gen = OpenAICompatibleGenerator(server.url, MODEL)
    chunks = [c async for c in gen.stream(MESSAGES)]
    await gen.close()
    assert "".join(c.text for c in chunks) == "".join(TOKENS)
    assert chunks[-1].done and chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens is None


async def test_warm_up_checks_the_server_serves_the_model(server: FakeOpenAI) -> None:
    async with opened(server.url) as gen:
        await gen.warm_up()
    async with opened(server.url, "llama3") as gen:
        with pytest.raises(ModelNotFoundError, match=r"does not serve the model 'llama3'.*Qwen/Qwen2\.5-3B-Instruct"):
            await gen.warm_up()


async def test_an_unknown_model_on_chat_is_model_not_found(server: FakeOpenAI) -> None:
    async with opened(server.url, "mistral") as gen:
        with pytest.raises(ModelNotFoundError, match="does not exist"):
            await generate(gen, MESSAGES)


async def test_the_api_key_is_sent_and_a_wrong_one_is_refused() -> None:
    fake = FakeOpenAI({MODEL: ScriptedModel(tokens=TOKENS)}, api_key="sk-local").start()
    try:
        async with opened(fake.url, api_key="sk-local") as good:
            await good.warm_up()
            assert (await generate(good, MESSAGES)).text == "".join(TOKENS)
        assert fake.headers[-1]["authorization"] == "Bearer sk-local"
        async with opened(fake.url, api_key="sk-wrong") as wrong:
            with pytest.raises(BackendUnavailableError, match="401"):
                await wrong.warm_up()
        async with opened(fake.url) as none:
            with pytest.raises(BackendUnavailableError, match="401"):
                await generate(none, MESSAGES)
    finally:
        fake.stop()


async def test_connection_refused_is_backend_unavailable() -> None:
    async with opened(f"http://127.0.0.1:{_free_port()}/v1", connect_timeout=1) as gen:
        with pytest.raises(BackendUnavailableError, match="cannot reach the OpenAI-compatible server"):
            await generate(gen, MESSAGES)
        with pytest.raises(BackendUnavailableError, match="cannot reach"):
            await gen.warm_up()


async def test_an_overloaded_server_is_backend_unavailable(server: FakeOpenAI) -> None:
    server.overloaded = True
    async with opened(server.url) as gen:
        with pytest.raises(BackendUnavailableError, match="503"):
            await generate(gen, MESSAGES)


async def test_an_error_event_mid_stream_is_backend_unavailable() -> None:
    fake = FakeOpenAI({MODEL: ScriptedModel(tokens=["a", "b", "c"], error_after=2, error_message="CUDA OOM")}).start()
    try:
        async with opened(fake.url) as gen:
            assert await texts_until_failure(gen, BackendUnavailableError, "CUDA OOM") == ["a", "b"]
    finally:
        fake.stop()


async def test_a_slow_server_hits_the_deadline() -> None:
    fake = FakeOpenAI({MODEL: ScriptedModel(tokens=["x"] * 50, delay=0.2)}).start()
    try:
        async with opened(fake.url, timeout=0.5) as gen:
            with pytest.raises(BackendTimeoutError, match=r"within 0\.5 s"):
                await generate(gen, MESSAGES)
    finally:
        fake.stop()


async def test_an_empty_prompt_is_rejected_before_sending(server: FakeOpenAI) -> None:
    async with opened(server.url) as gen:
        with pytest.raises(BadInputError):
            gen.stream([])
    assert server.requests == []


async def test_settings_make_one_generator_or_a_pool(server: FakeOpenAI) -> None:
    env = {"KEFU_OPENAI_BASE_URL": server.url, "KEFU_OPENAI_MODEL": MODEL, "KEFU_OPENAI_API_KEY": "sk-x"}
    one = generator_from_settings(Settings.from_env(env))
    assert isinstance(one, OpenAICompatibleGenerator) and one.host == server.url
    assert (await generate(one, MESSAGES)).text == "".join(TOKENS)
    assert server.headers[-1]["authorization"] == "Bearer sk-x"
    await one.close()
    two = Settings.from_env({**env, "KEFU_OPENAI_BASE_URL": f"{server.url}, http://10.0.0.9:8000/v1/"})
    assert two.llm_backend == "openai"
    assert two.openai_base_urls == (server.url, "http://10.0.0.9:8000/v1")
    assert "sk-x" not in repr(two) and two.describe()["openai_api_key"] == "***"
    pool = generator_from_settings(two)
    assert isinstance(pool, HostPool) and [h.url for h in pool.hosts] == list(two.openai_base_urls)
    await pool.close()
    with pytest.raises(ConfigError, match="KEFU_OPENAI_MODEL"):
        Settings.from_env({"KEFU_OPENAI_BASE_URL": server.url})
    with pytest.raises(ConfigError, match="KEFU_OPENAI_BASE_URL"):
        Settings.from_env({"KEFU_OPENAI_BASE_URL": "ftp://x"})
