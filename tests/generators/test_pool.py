"""HostPool: one model on several local servers (OpenAI-compatible and Ollama fakes over real HTTP):
load spread, a bounded queue per host, failover, health checks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from kefu.errors import BackendUnavailableError, BusyError
from kefu.generators import ChatMessage, Generator, generate, generator_from_settings
from kefu.generators.ollama import OllamaGenerator
from kefu.generators.openai_compat import OpenAICompatibleGenerator
from kefu.generators.pool import HostPool
from kefu.settings import Settings
from tests.fakes.ollama_server import FakeOllama, ScriptedModel
from tests.fakes.openai_server import FakeOpenAI

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MODEL = "qwen2.5-3b-instruct"
TOKENS = ["转账", "打包中", "通常", "是", "矿工费", "太低", "[1]", "。"]
ANSWER = "".join(TOKENS)
MESSAGES = [ChatMessage("user", "转账一直打包中？")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def servers() -> Iterator[list[FakeOpenAI]]:
    """Three servers; each token takes 50 ms, so a generation takes about 0.4 s."""
    fakes = [FakeOpenAI({MODEL: ScriptedModel(tokens=TOKENS, delay=0.05)}).start() for _ in range(3)]
    yield fakes
    for fake in fakes:
        fake.stop()


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@contextlib.asynccontextmanager
async def pool_of(urls: Sequence[str], **options: Any) -> AsyncIterator[HostPool]:
    members: list[Generator] = [OpenAICompatibleGenerator(u, MODEL, connect_timeout=1) for u in urls]
    pool = HostPool(members, **options)
    try:
        yield pool
    finally:
        await pool.close()


async def test_requests_spread_over_the_hosts_one_generation_each(servers: list[FakeOpenAI]) -> None:
    async with pool_of([s.url for s in servers], parallel=1, queue=2) as pool:
        await pool.warm_up()
        results = await asyncio.gather(*(generate(pool, MESSAGES) for _ in range(6)))
    assert [r.text for r in results] == [ANSWER] * 6
    # Two each, never two at once on one host.
    assert [len(s.requests) for s in servers] == [2, 2, 2]
    assert [s.peak for s in servers] == [1, 1, 1]
    assert pool.name == f"openai:{MODEL}"


async def test_parallel_lets_a_host_run_several_at_once(servers: list[FakeOpenAI]) -> None:
    async with pool_of([servers[0].url], parallel=3, queue=0) as pool:
        await asyncio.gather(*(generate(pool, MESSAGES) for _ in range(3)))
    assert servers[0].peak == 3


async def test_when_every_queue_is_full_the_next_request_is_refused_at_once(servers: list[FakeOpenAI]) -> None:
    async with pool_of([s.url for s in servers[:2]], parallel=1, queue=1) as pool:
        running = [asyncio.create_task(generate(pool, MESSAGES)) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert [(h.running, h.waiting) for h in pool.status()] == [(1, 1), (1, 1)]
        started = asyncio.get_running_loop().time()
        with pytest.raises(BusyError, match="every LLM host is busy") as info:
            await generate(pool, MESSAGES)
        assert asyncio.get_running_loop().time() - started < 0.05
        assert info.value.retry_after >= 1
        assert [r.text for r in await asyncio.gather(*running)] == [ANSWER] * 4
    assert [s.peak for s in servers[:2]] == [1, 1]


async def test_a_host_that_is_down_is_failed_over_and_marked(servers: list[FakeOpenAI]) -> None:
    down = _closed_url()
    async with pool_of([down, servers[0].url], health_interval=60) as pool:
        # No warm-up: the pool learns of the dead host from a request, which still succeeds.
        assert (await generate(pool, MESSAGES)).text == ANSWER
        dead, alive = pool.status()
        assert (dead.host, dead.healthy) == (down, False) and "cannot reach" in (dead.problem or "")
        assert alive.healthy
        await generate(pool, MESSAGES)
    assert len(servers[0].requests) == 2


async def test_an_overloaded_host_is_failed_over(servers: list[FakeOpenAI]) -> None:
    servers[0].overloaded = True
    async with pool_of([s.url for s in servers[:2]], health_interval=60) as pool:
        assert (await generate(pool, MESSAGES)).text == ANSWER
        assert [h.healthy for h in pool.status()] == [False, True]
    assert (len(servers[0].requests), len(servers[1].requests)) == (1, 1)


async def test_a_failure_after_text_was_streamed_is_not_failed_over() -> None:
    broken = FakeOpenAI({MODEL: ScriptedModel(tokens=TOKENS, error_after=2)}).start()
    spare = FakeOpenAI({MODEL: ScriptedModel(tokens=TOKENS)}).start()
    try:
        async with pool_of([broken.url, spare.url]) as pool:
            seen = []
            with pytest.raises(BackendUnavailableError):
                async for chunk in pool.stream(MESSAGES):
                    seen.append(chunk.text)
            # Starting over elsewhere would say the first words twice.
            assert seen == TOKENS[:2]
            assert spare.requests == []
    finally:
        broken.stop()
        spare.stop()


async def test_with_every_host_down_the_error_names_each() -> None:
    urls = [_closed_url(), _closed_url()]
    async with pool_of(urls) as pool:
        with pytest.raises(BackendUnavailableError, match="no LLM host answers") as info:
            await pool.warm_up()
        assert all(u in str(info.value) for u in urls)
        with pytest.raises(BackendUnavailableError, match="every LLM host failed") as info:
            await generate(pool, MESSAGES)
        assert all(u in str(info.value) for u in urls)


async def test_health_checks_take_a_host_out_and_bring_it_back(servers: list[FakeOpenAI]) -> None:
    first, second = servers[0], servers[1]
    port = first.port
    first.stop()
    async with pool_of([first.url, second.url], health_interval=0.1) as pool:
        await pool.warm_up()  # ready: one host answers
        assert [h.healthy for h in pool.status()] == [False, True]
        await generate(pool, MESSAGES)
        assert len(second.requests) == 1  # the down host was not even tried
        first.start(port)
        await _until(lambda: pool.status()[0].healthy)
        await asyncio.gather(*(generate(pool, MESSAGES) for _ in range(2)))
        assert len(first.requests) == 1
        second.stop()
        await _until(lambda: not pool.status()[1].healthy)
        await generate(pool, MESSAGES)
        assert len(first.requests) == 2


async def test_ollama_hosts_pool_the_same_way() -> None:
    alive = FakeOllama({MODEL: ScriptedModel(tokens=TOKENS)}).start()
    try:
        dead = _closed_url().removesuffix("/v1")
        members: list[Generator] = [OllamaGenerator(h, MODEL, connect_timeout=1) for h in (dead, alive.url)]
        pool = HostPool(members, health_interval=60)
        try:
            await pool.warm_up()
            assert [h.healthy for h in pool.status()] == [False, True]
            assert pool.name == f"ollama:{MODEL}"
            assert (await generate(pool, MESSAGES)).text == ANSWER
        finally:
            await pool.close()
    finally:
        alive.stop()


async def test_settings_make_an_ollama_pool(servers: list[FakeOpenAI]) -> None:
    settings = Settings.from_env(
        {"OLLAMA_HOST": "gpu-a:11434, http://gpu-b:11434", "KEFU_LLM_PARALLEL": "2", "KEFU_LLM_QUEUE": "3"}
    )
    assert settings.llm_backend == "ollama" and settings.ollama_host == "http://gpu-a:11434"
    pool = generator_from_settings(settings)
    assert isinstance(pool, HostPool)
    assert [h.url for h in pool.hosts] == ["http://gpu-a:11434", "http://gpu-b:11434"]
    assert (pool.slots, pool.queue) == (4, 6)
    await pool.close()


def test_a_pool_checks_its_hosts_serve_one_model() -> None:
    a = OpenAICompatibleGenerator("http://127.0.0.1:1/v1", "a")
    b = OpenAICompatibleGenerator("http://127.0.0.1:2/v1", "b")
    with pytest.raises(ValueError, match="same model"):
        HostPool([a, b])
    with pytest.raises(ValueError, match="at least one"):
        HostPool([])
    with pytest.raises(ValueError, match="parallel"):
        HostPool([a], parallel=0)


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
