"""OllamaGenerator against a local server that speaks Ollama's API over real HTTP."""

from __future__ import annotations

import socket

import ollama
import pytest

from kefu.errors import BackendTimeoutError, BackendUnavailableError, BadInputError, ModelNotFoundError
from kefu.generators import GenerationOptions, generate
from kefu.generators.ollama import OllamaGenerator
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.generators.conftest import MESSAGES, texts_until_failure

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streams_tokens_in_order_and_reports_usage(fake_ollama: FakeOllama) -> None:
    gen = OllamaGenerator(fake_ollama.url, "qwen2.5:3b-instruct", max_tokens=100, temperature=0.1)
    chunks = [c async for c in gen.stream(MESSAGES)]
    await gen.close()

    texts = [c.text for c in chunks if not c.done]
    assert texts == ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]
    final = chunks[-1]
    assert final.done and final.finish_reason == "stop"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (57, 8)
    sent = fake_ollama.requests[-1]
    assert sent["model"] == "qwen2.5:3b-instruct"
    assert sent["stream"] is True
    assert sent["messages"][0] == {"role": "system", "content": "只根据资料回答。"}
    assert sent["options"]["num_predict"] == 100
    assert sent["options"]["temperature"] == 0.1


async def test_generate_collects_text_and_timings(fake_ollama: FakeOllama) -> None:
    gen = OllamaGenerator(fake_ollama.url, "qwen2.5:3b-instruct")
    result = await generate(gen, MESSAGES, GenerationOptions(max_tokens=3))
    await gen.close()
    assert result.text == "转账打包中通常"
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 3
    assert result.first_token_seconds is not None
    assert result.total_seconds >= result.first_token_seconds
    assert result.model == "ollama:qwen2.5:3b-instruct"


async def test_fake_server_answers_non_streamed_chat_like_ollama(fake_ollama: FakeOllama) -> None:
    # The official client in non-streaming mode parses the fake's single JSON reply.
    client = ollama.AsyncClient(host=fake_ollama.url)
    reply = await client.chat(model="qwen2.5:3b-instruct", messages=[{"role": "user", "content": "hi"}], stream=False)
    assert reply.done and reply.message.content == "转账打包中通常是矿工费太低[1]。"
    assert reply.eval_count == 8 and reply.prompt_eval_count == 57


async def test_warm_up_checks_the_model_is_pulled(fake_ollama: FakeOllama) -> None:
    await OllamaGenerator(fake_ollama.url, "qwen2.5:3b-instruct").warm_up()
    with pytest.raises(ModelNotFoundError, match=r"ollama pull llama3\.2"):
        await OllamaGenerator(fake_ollama.url, "llama3.2").warm_up()


async def test_unknown_model_on_chat_becomes_model_not_found(fake_ollama: FakeOllama) -> None:
    gen = OllamaGenerator(fake_ollama.url, "mistral")
    with pytest.raises(ModelNotFoundError, match="not found, try pulling it first"):
        await generate(gen, MESSAGES)


async def test_connection_refused_is_backend_unavailable() -> None:
    gen = OllamaGenerator(f"http://127.0.0.1:{_free_port()}", "qwen2.5:3b-instruct", connect_timeout=1)
    with pytest.raises(BackendUnavailableError, match="cannot reach Ollama"):
        await generate(gen, MESSAGES)
    with pytest.raises(BackendUnavailableError, match="cannot reach Ollama"):
        await gen.warm_up()


async def test_error_line_mid_stream_is_backend_unavailable() -> None:
    server = FakeOllama({"m": ScriptedModel(tokens=["a", "b", "c"], error_after=2)}).start()
    try:
        gen = OllamaGenerator(server.url, "m")
        assert await texts_until_failure(gen, BackendUnavailableError, "unexpected EOF") == ["a", "b"]
    finally:
        server.stop()


async def test_slow_server_hits_the_deadline() -> None:
    server = FakeOllama({"slow": ScriptedModel(tokens=["x"] * 50, delay=0.2)}).start()
    try:
        gen = OllamaGenerator(server.url, "slow", timeout=0.5)
        with pytest.raises(BackendTimeoutError, match=r"within 0\.5 s"):
            await generate(gen, MESSAGES)
    finally:
        server.stop()


async def test_empty_prompt_is_rejected_before_sending(fake_ollama: FakeOllama) -> None:
    gen = OllamaGenerator(fake_ollama.url, "qwen2.5:3b-instruct")
    with pytest.raises(BadInputError):
        gen.stream([])
    assert fake_ollama.requests == []
