"""Several hosts serving one model, as one generator: health checks, failover, a queue per host.

Each host runs up to ``parallel`` generations at once and lets up to ``queue`` more wait;
a request goes to the healthy host with the most room (least loaded, then round robin).
A host that fails before its first token (refused connection, 5xx, no such model) is
marked down and the request goes on to the next host, so the caller never sees the
failure; once text has been streamed a failure is passed on, since another host would
start the answer over. A health check (the backend's own ``warm_up``: Ollama's
``/api/tags``, OpenAI's ``/v1/models``) runs on every host every ``health_interval``
seconds and brings hosts back, or takes them out before a request has to find out.
When every healthy host is full the request is refused at once with :class:`BusyError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence

from kefu.errors import BackendTimeoutError, BackendUnavailableError, BusyError, KefuError
from kefu.generators.base import (
    ChatMessage,
    Chunk,
    GenerationOptions,
    Generator,
    GeneratorHealth,
    HostStatus,
    validate_messages,
)

log = logging.getLogger(__name__)

#: A first guess at a generation's length (for Retry-After), until one has been timed.
INITIAL_GENERATION_SECONDS = 5.0


class _Host:
    def __init__(self, generator: Generator, parallel: int, queue: int) -> None:
        self.generator = generator
        self.url: str = getattr(generator, "host", generator.name)
        self.parallel = parallel
        self.queue = queue
        self.healthy = True
        self.problem: str | None = None
        self.checked_at: float | None = None
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(parallel)

    @property
    def load(self) -> float:
        return (self.running + self.waiting) / self.parallel

    @property
    def has_room(self) -> bool:
        return self.running < self.parallel or self.waiting < self.queue

    def mark(self, healthy: bool, problem: str | None = None) -> None:
        if healthy != self.healthy:
            if healthy:
                log.info("LLM host %s is back", self.url)
            else:
                log.warning("LLM host %s is down: %s", self.url, problem)
        self.healthy, self.problem = healthy, problem

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.running >= self.parallel:
            self.waiting += 1
            try:
                await self._slots.acquire()
            finally:
                # Also when the caller is cancelled while waiting.
                self.waiting -= 1
        else:
            await self._slots.acquire()
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


class HostPool:
    """One model on several hosts (each a generator of the same backend), as one generator."""

    def __init__(
        self,
        members: Sequence[Generator],
        *,
        parallel: int = 1,
        queue: int = 4,
        health_interval: float = 10.0,
        health_timeout: float = 5.0,
    ) -> None:
        if not members:
            raise ValueError("a host pool needs at least one host")
        if parallel < 1 or queue < 0:
            raise ValueError("parallel must be 1 or more and queue 0 or more")
        if health_interval <= 0 or health_timeout <= 0:
            raise ValueError("health_interval and health_timeout must be above 0")
        names = {m.name for m in members}
        if len(names) != 1:
            raise ValueError(f"every host of a pool serves the same model, not {sorted(names)}")
        self.name = members[0].name
        self.hosts = [_Host(m, parallel, queue) for m in members]
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self._next = 0
        self._average = INITIAL_GENERATION_SECONDS
        self._watcher: asyncio.Task[None] | None = None

    @property
    def slots(self) -> int:
        """Generations the pool runs at once, all hosts together."""
        return sum(h.parallel for h in self.hosts)

    @property
    def queue(self) -> int:
        """Requests that may wait, all hosts together."""
        return sum(h.queue for h in self.hosts)

    async def warm_up(self) -> None:
        """Check every host; ready when one is. Starts the periodic health checks."""
        await self.check_health()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="kefu-llm-health")
        if not any(h.healthy for h in self.hosts):
            raise BackendUnavailableError(
                "no LLM host answers: " + "; ".join(f"{h.url}: {h.problem}" for h in self.hosts)
            )

    async def check_health(self) -> list[HostStatus]:
        """Check every host now (concurrently) and return what the pool knows of each."""
        await asyncio.gather(*(self._check(h) for h in self.hosts))
        return self.status()

    def status(self) -> list[HostStatus]:
        now = time.monotonic()
        return [
            HostStatus(
                host=h.url,
                healthy=h.healthy,
                running=h.running,
                waiting=h.waiting,
                problem=h.problem,
                checked_seconds_ago=None if h.checked_at is None else round(now - h.checked_at, 3),
            )
            for h in self.hosts
        ]

    def health(self) -> GeneratorHealth:
        """Ready while one host is healthy; each host's own restarts added up."""
        ready = any(h.healthy for h in self.hosts)
        detail = None if ready else "no LLM host answers: " + "; ".join(f"{h.url}: {h.problem}" for h in self.hosts)
        restarts = sum(h.generator.health().restarts for h in self.hosts)
        return GeneratorHealth(ready=ready, detail=detail, restarts=restarts, hosts=tuple(self.status()))

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> AsyncIterator[Chunk]:
        validate_messages(messages)
        return self._stream(messages, options)

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for host in self.hosts:
            await host.generator.close()

    # --- internals -----------------------------------------------------------------------

    async def _stream(self, messages: Sequence[ChatMessage], options: GenerationOptions | None) -> AsyncIterator[Chunk]:
        tried: set[int] = set()
        failures: list[str] = []
        while True:
            index = self._pick(tried)
            if index is None:
                if failures:
                    raise BackendUnavailableError("every LLM host failed: " + "; ".join(failures))
                raise BusyError(
                    f"every LLM host is busy ({self.slots} generating, {self.queue} waiting at most); "
                    "try again shortly",
                    retry_after=self._retry_after(),
                )
            tried.add(index)
            host = self.hosts[index]
            started = False
            async with host.slot():
                began = time.monotonic()
                try:
                    async for chunk in host.generator.stream(messages, options):
                        started = True
                        yield chunk
                except BackendTimeoutError as exc:
                    # The time is spent: no other host could answer within it now.
                    host.mark(False, str(exc))
                    raise
                except BackendUnavailableError as exc:
                    host.mark(False, str(exc))
                    if started:
                        raise
                    failures.append(f"{host.url}: {exc}")
                    continue
                self._average = 0.7 * self._average + 0.3 * (time.monotonic() - began)
                return

    def _pick(self, tried: set[int]) -> int | None:
        """The healthy host with the most room; when none is healthy, any not tried yet
        (a host may be back before its next check says so)."""
        untried = [i for i in range(len(self.hosts)) if i not in tried]
        healthy = [i for i in untried if self.hosts[i].healthy]
        if healthy:
            roomy = [i for i in healthy if self.hosts[i].has_room]
        elif any(h.healthy for h in self.hosts):
            roomy = []  # the healthy ones were tried (and failed) or are full
        else:
            roomy = [i for i in untried if self.hosts[i].has_room]
        if not roomy:
            return None
        # Least loaded first; among equals, round robin from where the last pick left off.
        n = len(self.hosts)
        best = min(roomy, key=lambda i: (self.hosts[i].load, (i - self._next) % n))
        self._next = (best + 1) % n
        return best

    def _retry_after(self) -> int:
        waiting = sum(h.waiting for h in self.hosts)
        return max(1, min(120, math.ceil(self._average * (waiting + 1) / self.slots)))

    async def _check(self, host: _Host) -> None:
        try:
            await asyncio.wait_for(host.generator.warm_up(), timeout=self.health_timeout)
        except TimeoutError:
            host.mark(False, f"no answer to the health check within {self.health_timeout:g} s")
        except KefuError as exc:
            host.mark(False, str(exc))
        else:
            host.mark(True)
        host.checked_at = time.monotonic()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            await self.check_health()
