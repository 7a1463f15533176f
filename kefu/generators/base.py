"""The generator protocol every LLM backend implements, and helpers on top of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from kefu.errors import BackendTimeoutError, BadInputError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a chat prompt."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """Per-call sampling settings; ``None`` fields take the backend's configured value."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed output. The last chunk has ``done=True`` and carries usage."""

    text: str
    done: bool = False
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Generation:
    """A whole answer, collected from a stream, with its timings."""

    text: str
    finish_reason: str | None
    usage: Usage
    first_token_seconds: float | None
    total_seconds: float
    model: str = field(default="")


@dataclass(frozen=True)
class HostStatus:
    """One server of a pool of LLM servers, as the pool sees it now."""

    host: str
    healthy: bool
    running: int
    waiting: int
    problem: str | None
    checked_seconds_ago: float | None


@dataclass(frozen=True)
class GeneratorHealth:
    """Whether a backend can generate now, and how often its model process was restarted."""

    ready: bool = True
    #: Why it is not ready (a dead model process and when it comes back), else None.
    detail: str | None = None
    restarts: int = 0
    #: For a pool of LLM servers, each one's state; empty for a single backend.
    hosts: tuple[HostStatus, ...] = ()


@runtime_checkable
class Generator(Protocol):
    """An LLM backend that streams a chat completion."""

    #: ``backend:model`` for logs, metrics and eval reports.
    name: str

    async def warm_up(self) -> None:
        """Load the model or check the server has it; raises NotReady/BackendUnavailable."""
        ...

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        """Stream the completion as chunks; raises BackendUnavailable/BackendTimeout."""
        ...

    def health(self) -> GeneratorHealth:
        """Its state now, without any I/O (``/ready`` and ``/metrics`` read it)."""
        ...

    async def close(self) -> None:
        """Release connections or the loaded model."""
        ...


def validate_messages(messages: Sequence[ChatMessage]) -> None:
    """Reject prompts no backend can serve, before anything is sent."""
    if not messages:
        raise BadInputError("a chat prompt needs at least one message")
    for i, m in enumerate(messages):
        if m.role not in ("system", "user", "assistant"):
            raise BadInputError(f"messages[{i}].role: {m.role!r} is not system, user or assistant")


def checked_stream(
    produce: Callable[[Sequence[ChatMessage], GenerationOptions], AsyncIterator[Chunk]],
    messages: Sequence[ChatMessage],
    options: GenerationOptions | None,
    seconds: float,
    what: str,
) -> AsyncIterator[Chunk]:
    """A backend's ``stream``: the messages checked before anything is sent, then what
    ``produce`` streams, within ``seconds`` in all (:func:`with_deadline`)."""
    validate_messages(messages)
    return with_deadline(produce(messages, options or GenerationOptions()), seconds, what)


async def with_deadline(chunks: AsyncIterator[Chunk], seconds: float, what: str) -> AsyncGenerator[Chunk, None]:
    """Pass chunks through, raising BackendTimeoutError once ``seconds`` have passed in all."""
    deadline = time.monotonic() + seconds
    iterator = aiter(chunks)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendTimeoutError(f"{what} did not finish within {seconds:g} s")
            try:
                chunk = await asyncio.wait_for(anext(iterator), timeout=remaining)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise BackendTimeoutError(f"{what} did not finish within {seconds:g} s") from exc
            yield chunk
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def generate(
    generator: Generator,
    messages: Sequence[ChatMessage],
    options: GenerationOptions | None = None,
) -> Generation:
    """Run a generation to the end and return the text with usage and timings."""
    start = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish: str | None = None
    usage = Usage()
    async for chunk in generator.stream(messages, options):
        if chunk.text:
            if first is None:
                first = time.perf_counter() - start
            parts.append(chunk.text)
        if chunk.done:
            finish = chunk.finish_reason
            usage = chunk.usage or usage
    return Generation(
        text="".join(parts),
        finish_reason=finish,
        usage=usage,
        first_token_seconds=first,
        total_seconds=time.perf_counter() - start,
        model=generator.name,
    )
