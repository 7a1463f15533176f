"""Per-key request rates: a token bucket for each API key.

Each key may make ``burst`` requests at once and then ``per_minute`` a minute.
:class:`RateLimiter` keeps the buckets in this process (one server on SQLite; a restart
refills them); :class:`SharedRateLimiter` keeps them in the database, so that replicas
of the service on one PostgreSQL count every request of a key together.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kefu.errors import BackendTimeoutError, BackendUnavailableError, RateLimitedError

if TYPE_CHECKING:
    from service.store import Store

log = logging.getLogger(__name__)

#: Buckets kept before idle ones are dropped (a full bucket holds no information).
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class _Limiter:
    """``check(key)`` takes one token from ``key``'s bucket or raises RateLimitedError."""

    def __init__(self, per_minute: int, burst: int) -> None:
        if per_minute < 0 or burst < 1:
            raise ValueError("per_minute must be 0 or more and burst 1 or more")
        self.per_minute = per_minute
        self.burst = burst

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, key: str) -> None:
        if not self.enabled:
            return
        wait = self.take(key)
        if wait > 0:
            raise RateLimitedError(
                f"too many requests: this key may make {self.per_minute} a minute "
                f"(bursts of {self.burst}); try again in {math.ceil(wait)} s",
                retry_after=wait,
            )

    def take(self, key: str) -> float:
        """Take a token from ``key``'s bucket (of an enabled limiter): 0, or the seconds until one is there."""
        raise NotImplementedError


class RateLimiter(_Limiter):
    """The buckets in this process."""

    def __init__(self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_minute, burst)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._drop_full(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate

    def _drop_full(self, now: float) -> None:
        full_after = self.burst / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: MAX_BUCKETS // 2]:
                del self._buckets[key]


class SharedRateLimiter(_Limiter):
    """The same buckets, kept in the database (``Store.take_token``): one row per key.

    ``check`` makes one short transaction, so call it from a worker thread. When the
    database fails, the request is counted by an in-process limiter instead: a database
    outage must not turn every request away.
    """

    def __init__(self, store: Store, per_minute: int, burst: int) -> None:
        super().__init__(per_minute, burst)
        self.store = store
        self.fallback = RateLimiter(per_minute, burst)

    def take(self, key: str) -> float:
        try:
            return self.store.take_token(key, per_minute=self.per_minute, burst=self.burst)
        except (BackendUnavailableError, BackendTimeoutError) as exc:
            log.warning("rate limit counted in this process only: %s", exc)
            return self.fallback.take(key)
