"""One generation at a time per LLM backend, with a bounded queue in front of it.

A CPU serves one llama.cpp generation at a time (and an Ollama server queues its own),
so the service lets one request generate and up to ``max_waiting`` wait; one more is
refused at once with :class:`~kefu.errors.BusyError` (HTTP 503 with Retry-After) rather
than left to wait for a slot it would get after its client gave up.

:class:`GatedGenerator` puts the gate inside the generator the answerer calls, so only
answers that reach the LLM queue: a stolen-funds handoff decided by the rules never waits
behind generations. Time spent waiting counts against the answerer's deadline, after
which it falls back (extractive answer or handoff) instead of hanging.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from kefu.errors import BusyError

if TYPE_CHECKING:
    from kefu.generators import ChatMessage, Chunk, GenerationOptions, Generator, GeneratorHealth

#: A first guess at how long a generation takes, until one has been timed.
INITIAL_GENERATION_SECONDS = 5.0
#: Longest Retry-After the gate suggests.
MAX_RETRY_AFTER = 120


class LlmGate:
    """An async slot for one generation, with at most ``max_waiting`` callers waiting.

    ``on_change(waiting)`` is told the queue length whenever it changes, ``on_reject()``
    of each refusal, and ``on_wait(seconds)`` how long each admitted caller waited.
    """

    def __init__(
        self,
        max_waiting: int,
        *,
        on_change: Callable[[int], None] | None = None,
        on_reject: Callable[[], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if max_waiting < 0:
            raise ValueError("max_waiting must be 0 or more")
        self.max_waiting = max_waiting
        self._slot = asyncio.Semaphore(1)
        self._waiting = 0
        self._busy = False
        self._average = INITIAL_GENERATION_SECONDS
        self._on_change = on_change or (lambda _n: None)
        self._on_reject = on_reject or (lambda: None)
        self._on_wait = on_wait or (lambda _s: None)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def busy(self) -> bool:
        return self._busy

    def retry_after(self) -> int:
        """Seconds until a refused caller might get in: the queue ahead at the average pace."""
        return max(1, min(MAX_RETRY_AFTER, math.ceil(self._average * (self._waiting + 1))))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold the generation slot for the block; :class:`BusyError` if the queue is full."""
        start = time.monotonic()
        if self._busy or self._slot.locked():
            if self._waiting >= self.max_waiting:
                self._on_reject()
                raise BusyError(
                    f"the LLM is busy and {self._waiting} request(s) are already waiting; try again shortly",
                    retry_after=self.retry_after(),
                )
            self._waiting += 1
            self._on_change(self._waiting)
            try:
                await self._slot.acquire()
            finally:
                # Also when the caller is cancelled (its deadline passed) while waiting.
                self._waiting -= 1
                self._on_change(self._waiting)
        else:
            await self._slot.acquire()
        self._busy = True
        self._on_wait(time.monotonic() - start)
        began = time.monotonic()
        try:
            yield
        finally:
            self._busy = False
            # A moving average is enough to size Retry-After.
            self._average = 0.7 * self._average + 0.3 * (time.monotonic() - began)
            self._slot.release()


class GatedGenerator:
    """A generator whose streams each hold the gate's slot from first to last chunk.

    ``on_generation(seconds)`` is told how long each generation held the slot.
    """

    def __init__(
        self,
        inner: Generator,
        gate: LlmGate,
        *,
        on_generation: Callable[[float], None] | None = None,
    ) -> None:
        self.inner = inner
        self.gate = gate
        self.name = inner.name
        self._on_generation = on_generation or (lambda _s: None)

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    def health(self) -> GeneratorHealth:
        return self.inner.health()

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        return self._stream(messages, options)

    async def _stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None) -> AsyncIterator[Chunk]:
        async with self.gate.slot():
            began = time.monotonic()
            try:
                async for chunk in self.inner.stream(messages, options):
                    yield chunk
            finally:
                self._on_generation(time.monotonic() - began)

    async def close(self) -> None:
        await self.inner.close()
