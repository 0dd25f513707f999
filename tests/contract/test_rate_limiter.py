"""The RateLimiter contract (src/ports/ratelimit.py), on the in-process and the Redis limiter.

``budget(...)`` opens a limiter; ``budget.another()`` opens a second handle on the same
budget, as another worker process would (for the in-process limiter, the one object a
process shares).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlparse

import pytest

from adapters.memory.ratelimit import MemoryRateLimiter
from ports.ratelimit import RateLimited, RateLimiter, RateLimiterUnavailable
from services import REDIS_URL, need, port_open


class Budget:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.key = f"sluice-test:ratelimit:{uuid.uuid4().hex}"
        self.opened: list[RateLimiter] = []
        self._options: dict = {}

    def __call__(self, requests: int = 0, tokens: int = 0, *, period: float = 60.0) -> RateLimiter:
        self._options = {"requests_per_period": requests, "tokens_per_period": tokens, "period": period}
        return self._open()

    def another(self) -> RateLimiter:
        return self.opened[0] if self.kind == "memory" else self._open()

    def _open(self) -> RateLimiter:
        if self.kind == "memory":
            limiter: RateLimiter = MemoryRateLimiter(**self._options)
        else:
            from adapters.redis.ratelimit import RedisRateLimiter

            limiter = RedisRateLimiter(REDIS_URL, key=self.key, **self._options)
        self.opened.append(limiter)
        return limiter


@pytest.fixture(params=["memory", "redis"])
async def budget(request):
    if request.param == "redis":
        url = urlparse(REDIS_URL)
        if not port_open(url.hostname or "127.0.0.1", url.port or 6379):
            need("Redis", f"nothing listens at {REDIS_URL}")
    made = Budget(request.param)
    yield made
    for limiter in made.opened:
        await limiter.close()
    if request.param == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        await client.delete(made.key)
        await client.aclose()


async def test_calls_within_the_budget_go_at_once(budget) -> None:
    limiter = budget(requests=5, tokens=1000)
    assert (limiter.requests_per_period, limiter.tokens_per_period) == (5, 1000)
    for _ in range(5):
        assert await limiter.reserve(1, 200, max_wait=0) == 0.0


async def test_a_call_over_the_request_budget_waits_for_the_refill(budget) -> None:
    limiter = budget(requests=10, period=10.0)  # one request a second
    for _ in range(10):
        assert await limiter.reserve(1, 0, max_wait=0) == 0.0
    assert await limiter.reserve(1, 0, max_wait=60) == pytest.approx(1.0, abs=0.15)
    # Callers queue up: the next one waits behind the reservation before it.
    assert await limiter.reserve(1, 0, max_wait=60) == pytest.approx(2.0, abs=0.15)


async def test_a_call_over_the_token_budget_waits_for_the_refill(budget) -> None:
    limiter = budget(requests=1000, tokens=1000, period=10.0)  # 100 tokens a second
    assert await limiter.reserve(1, 800, max_wait=0) == 0.0
    assert await limiter.reserve(1, 400, max_wait=60) == pytest.approx(2.0, abs=0.15)


async def test_a_wait_over_max_wait_takes_nothing(budget) -> None:
    limiter = budget(tokens=100, period=10.0)  # 10 tokens a second
    await limiter.reserve(1, 100, max_wait=0)
    with pytest.raises(RateLimited) as refused:
        await limiter.reserve(1, 50, max_wait=1.0)
    assert refused.value.retry_after == pytest.approx(5.0, abs=0.15)
    assert refused.value.transient
    # Nothing was taken by the refusal: the same call costs the same wait.
    assert await limiter.reserve(1, 50, max_wait=60) == pytest.approx(5.0, abs=0.15)


async def test_buckets_refill_continuously_up_to_the_limit(budget) -> None:
    limiter = budget(requests=5, period=1.0)  # five a second
    for _ in range(5):
        await limiter.reserve(1, 0, max_wait=0)
    await asyncio.sleep(0.45)  # two requests' worth
    assert await limiter.reserve(2, 0, max_wait=0) == 0.0
    with pytest.raises(RateLimited):
        await limiter.reserve(1, 0, max_wait=0.05)
    await asyncio.sleep(1.2)  # much more than a full bucket: capped at 5
    for _ in range(5):
        assert await limiter.reserve(1, 0, max_wait=0) == 0.0
    with pytest.raises(RateLimited):
        await limiter.reserve(1, 0, max_wait=0.05)


async def test_a_call_larger_than_the_whole_budget_is_served_later(budget) -> None:
    limiter = budget(tokens=100, period=1.0)
    assert await limiter.reserve(1, 250, max_wait=10) == pytest.approx(1.5, abs=0.1)


async def test_zero_means_unlimited(budget) -> None:
    limiter = budget(requests=2)  # tokens unlimited
    assert await limiter.reserve(1, 10**9, max_wait=0) == 0.0
    assert await limiter.reserve(1, 10**9, max_wait=0) == 0.0
    with pytest.raises(RateLimited):
        await limiter.reserve(1, 0, max_wait=0)
    unlimited = budget(requests=0, tokens=0)
    for _ in range(100):
        assert await unlimited.reserve(1, 10**6, max_wait=0) == 0.0


async def test_concurrent_callers_share_one_budget_exactly(budget) -> None:
    first = budget(requests=20)
    second = budget.another()

    async def one(limiter: RateLimiter) -> bool:
        try:
            await limiter.reserve(1, 0, max_wait=0)
            return True
        except RateLimited:
            return False

    granted = await asyncio.gather(*(one(first if i % 2 else second) for i in range(60)))
    assert sum(granted) == 20


async def test_bad_costs_are_refused(budget) -> None:
    limiter = budget(requests=5)
    with pytest.raises(ValueError):
        await limiter.reserve(-1, 0, max_wait=0)
    with pytest.raises(ValueError):
        await limiter.reserve(1, 0, max_wait=-1)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(-1, 0)
    with pytest.raises(ValueError):
        MemoryRateLimiter(1, 1, period=0)


async def test_redis_limiter_that_cannot_reach_redis_is_unavailable() -> None:
    from adapters.redis.ratelimit import RedisRateLimiter

    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", key="nowhere", requests_per_period=5)
    try:
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailable):
            await limiter.reserve(1, 0, max_wait=0)
        assert time.monotonic() - started < 5
    finally:
        await limiter.close()
