"""Per-key request rates: a token bucket for each API key, in memory.

Each key may make ``burst`` requests at once and then ``per_minute`` a minute. The
buckets live in this process (one uvicorn worker serves kefu); a restart refills them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kefu.errors import RateLimitedError

#: Buckets kept before idle ones are dropped (a full bucket holds no information).
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``check(key)`` takes one token from ``key``'s bucket or raises RateLimitedError."""

    def __init__(self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0 or burst < 1:
            raise ValueError("per_minute must be 0 or more and burst 1 or more")
        self.per_minute = per_minute
        self.burst = burst
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, key: str) -> None:
        if not self.enabled:
            return
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
                return
            wait = (1.0 - bucket.tokens) / self._rate
        raise RateLimitedError(
            f"too many requests: this key may make {self.per_minute} a minute "
            f"(bursts of {self.burst}); try again in {math.ceil(wait)} s",
            retry_after=wait,
        )

    def _drop_full(self, now: float) -> None:
        full_after = self.burst / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forget the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: MAX_BUCKETS // 2]:
                del self._buckets[key]
