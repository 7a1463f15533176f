"""The API's small parts on their own: the LLM gate, the rate limiter, the error mapping,
and the rule that only service/api imports a web framework."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kefu.errors import (
    AuthError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadInputError,
    BusyError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InvalidFieldError,
    KefuError,
    ModelNotFoundError,
    NotFoundError,
    NotReadyError,
    RateLimitedError,
    TooLargeError,
    error_from_reply,
)
from service.api.errors import status_for
from service.api.gate import LlmGate
from service.api.ratelimit import RateLimiter
from service.api.serve import is_loopback

REPO = Path(__file__).resolve().parents[3]


#: Each kefu error and the HTTP status the API answers it with.
ERROR_STATUSES = [
    (BadInputError("x"), 400),
    (NotFoundError("x"), 404),
    (ConflictError("x"), 409),
    (InvalidFieldError("x", field="q"), 422),
    (TooLargeError("x"), 413),
    (AuthError("x"), 401),
    (ForbiddenError("x"), 403),
    (RateLimitedError("x", retry_after=1), 429),
    (NotReadyError("x"), 503),
    (BackendUnavailableError("x"), 503),
    (ModelNotFoundError("x"), 503),
    (BusyError("x", retry_after=1), 503),
    (BackendTimeoutError("x"), 504),
    (ConfigError("x"), 500),
    (KefuError("x"), 500),
]


@pytest.mark.parametrize(("error", "status"), ERROR_STATUSES)
def test_each_kefu_error_has_its_status(error: KefuError, status: int) -> None:
    assert status_for(error) == status


@pytest.mark.parametrize(("error", "status"), ERROR_STATUSES)
def test_a_client_turns_each_error_reply_back_into_its_error(error: KefuError, status: int) -> None:
    back = error_from_reply(error.code, "m", status=status, retry_after=2.0)
    assert type(back) is type(error)
    assert str(back) == "m"
    assert getattr(back, "retry_after", 2.0) == 2.0


async def generation(gate: LlmGate, hold: asyncio.Event) -> asyncio.Task[None]:
    """A generation that holds a slot of ``gate`` (or waits for one) until ``hold`` is set;
    returned once it has taken its place."""

    async def generate() -> None:
        async with gate.slot():
            await hold.wait()

    task = asyncio.create_task(generate())
    await asyncio.sleep(0)
    return task


def test_the_gate_admits_one_queues_some_and_refuses_the_rest() -> None:
    async def scenario() -> None:
        waits: list[int] = []
        gate = LlmGate(1, on_change=waits.append)
        release = asyncio.Event()
        first = await generation(gate, release)
        second = await generation(gate, release)
        assert gate.busy and gate.waiting == 1
        with pytest.raises(BusyError) as refused:
            async with gate.slot():
                pass
        assert refused.value.retry_after >= 1
        release.set()
        await asyncio.gather(first, second)
        assert not gate.busy and gate.waiting == 0 and waits == [1, 0]

    asyncio.run(scenario())


def test_a_caller_cancelled_while_waiting_leaves_the_queue() -> None:
    async def scenario() -> None:
        gate = LlmGate(2)
        hold = asyncio.Event()
        running = await generation(gate, hold)
        waiting = await generation(gate, hold)
        assert gate.waiting == 1
        waiting.cancel()  # its deadline passed
        await asyncio.sleep(0)
        assert gate.waiting == 0
        hold.set()
        await running
        async with gate.slot():  # the slot is free again
            assert gate.busy

    asyncio.run(scenario())


def test_a_gate_without_a_queue_refuses_while_busy() -> None:
    async def scenario() -> None:
        gate = LlmGate(0)
        async with gate.slot():
            with pytest.raises(BusyError):
                async with gate.slot():
                    pass

    asyncio.run(scenario())


def test_the_rate_limiter_is_a_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimitedError) as limited:
        limiter.check("a")
    assert 0 < limited.value.retry_after <= 1.0
    limiter.check("b")  # a bucket of its own
    now[0] = 1.0  # one token back after a second at 60 a minute
    limiter.check("a")
    with pytest.raises(RateLimitedError):
        limiter.check("a")
    unlimited = RateLimiter(per_minute=0, burst=1)
    for _ in range(1000):
        unlimited.check("a")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.2", False), ("kefu.internal", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_only_service_api_imports_a_web_framework() -> None:
    api = REPO / "service" / "api"
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("kefu", "ingest", "service", "eval")
        for path in (REPO / folder).rglob("*.py")
        if api not in path.parents
        and any(line.startswith(("import litestar", "from litestar")) for line in path.read_text().splitlines())
    ]
    assert offenders == []


def test_the_api_settings_read_their_variables() -> None:
    from kefu.settings import Settings

    s = Settings.from_env(
        {
            "KEFU_LLM_QUEUE": "0",
            "KEFU_CORS_ORIGINS": "https://desk.example.com, http://localhost:3000/",
            "KEFU_MAX_BODY_BYTES": "1024",
            "KEFU_MAX_QUESTION_CHARS": "300",
            "KEFU_RATE_LIMIT": "0",
            "KEFU_RATE_BURST": "5",
            "KEFU_LOG_LEVEL": "debug",
            "KEFU_INDEX_WATCH_SECONDS": "0.5",
        }
    )
    assert s.llm_queue == 0 and s.cors_origins == ("https://desk.example.com", "http://localhost:3000")
    assert (s.max_body_bytes, s.max_question_chars, s.rate_limit, s.rate_burst) == (1024, 300, 0, 5)
    assert s.log_level == "DEBUG" and s.index_watch_seconds == 0.5
    defaults = Settings.from_env({})
    assert (defaults.llm_queue, defaults.cors_origins, defaults.rate_limit) == (4, (), 120)
    assert (
        defaults.index_watch_seconds == 2.0
        and Settings.from_env({"KEFU_INDEX_WATCH_SECONDS": "0"}).index_watch_seconds == 0
    )
