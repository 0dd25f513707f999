"""An in-process rate limiter: two token buckets (requests, tokens) in this process.

It serves the embedded mode, where one process makes every call; with many worker
processes use the Redis limiter, which shares one budget between them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ports.ratelimit import RateLimited


def check_costs(requests: int, tokens: int, max_wait: float) -> None:
    if requests < 0 or tokens < 0:
        raise ValueError("requests and tokens must not be negative")
    if max_wait < 0:
        raise ValueError("max_wait must not be negative")


def check_limits(requests_per_period: int, tokens_per_period: int, period: float) -> None:
    if requests_per_period < 0 or tokens_per_period < 0:
        raise ValueError("rate limits must not be negative (0 means unlimited)")
    if period <= 0:
        raise ValueError("period must be positive")


class MemoryRateLimiter:
    """A ``RateLimiter`` whose budget lives in this object (one process, one budget)."""

    def __init__(
        self,
        requests_per_period: int = 0,
        tokens_per_period: int = 0,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limits(requests_per_period, tokens_per_period, period)
        self._caps = (float(requests_per_period), float(tokens_per_period))
        self._period = period
        self._clock = clock
        self._levels = list(self._caps)  # both buckets start full
        self._at = clock()
        # reserve() never awaits, so it is atomic on the event loop; the lock covers
        # callers on other threads.
        self._lock = threading.Lock()

    @property
    def requests_per_period(self) -> int:
        return int(self._caps[0])

    @property
    def tokens_per_period(self) -> int:
        return int(self._caps[1])

    async def reserve(self, requests: int, tokens: int, *, max_wait: float) -> float:
        check_costs(requests, tokens, max_wait)
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._at)
            wait = 0.0
            new_levels = []
            for cap, level, cost in zip(self._caps, self._levels, (requests, tokens), strict=True):
                if cap <= 0:  # unlimited
                    new_levels.append(level)
                    continue
                rate = cap / self._period
                left = min(cap, level + elapsed * rate) - cost
                new_levels.append(left)
                if left < 0:
                    wait = max(wait, -left / rate)
            if wait > max_wait:
                raise RateLimited(
                    f"the rate limit would delay this call by {wait:.1f}s (more than {max_wait:.1f}s)",
                    retry_after=wait,
                )
            self._levels, self._at = new_levels, now
            return wait

    async def close(self) -> None:
        return None
