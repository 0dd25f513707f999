"""The rate limiter port: a budget of requests and tokens per period, shared by callers.

Contract (``tests/contract/test_rate_limiter.py``):

* The budget is two token buckets, one for requests and one for tokens, each holding at
  most its per-period limit and refilled continuously at ``limit / period`` per second;
  a limit of 0 means unlimited.
* ``reserve(requests, tokens, max_wait=...)`` atomically takes both costs and returns
  the seconds the caller must wait before making its call (0.0: now). A bucket may go
  into debt, so callers are served in the order they reserved and a call larger than a
  whole period's budget is still served, later. When the wait would exceed
  ``max_wait``, nothing is taken and ``RateLimited`` says how long it would have been.
* Every instance built on the same shared state (the same Redis and key) draws from one
  budget, so many worker processes together stay under one account's limit.
* Failures: ``RateLimiterUnavailable`` (transient: the shared store is unreachable).
"""

from __future__ import annotations

from typing import Protocol

from domain.errors import TransientError


class RateLimited(TransientError):
    """The budget cannot cover a call within the time the caller is willing to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiterUnavailable(TransientError):
    code = "rate_limiter_unavailable"


class RateLimiter(Protocol):
    @property
    def requests_per_period(self) -> int: ...

    @property
    def tokens_per_period(self) -> int: ...

    async def reserve(self, requests: int, tokens: int, *, max_wait: float) -> float: ...

    async def close(self) -> None: ...
