"""Retry policy: exponential backoff with full jitter and a cap.

"Full jitter" (AWS Architecture Blog, *Exponential Backoff and Jitter*) draws the delay
uniformly from ``[0, ceiling]`` where the ceiling doubles per attempt up to ``cap``. It
spreads retries of many jobs that failed together (an outage) instead of letting them
return in lockstep. The random draw is passed in, so the policy stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.base_seconds <= 0:
            raise InvalidInput("retry base delay must be positive")
        if self.cap_seconds < self.base_seconds:
            raise InvalidInput("retry cap must be at least the base delay")
        if self.factor < 1:
            raise InvalidInput("retry factor must be at least 1")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after the ``attempt``-th failure (1-based)."""
        if attempt < 1:
            raise InvalidInput("attempt numbers start at 1")
        if self.factor == 1:
            return self.base_seconds
        # Multiply step by step instead of computing factor**n, which overflows for big n;
        # the loop stops at the cap, after a few dozen steps at most.
        ceiling = self.base_seconds
        for _ in range(attempt - 1):
            ceiling *= self.factor
            if ceiling >= self.cap_seconds:
                return self.cap_seconds
        return min(ceiling, self.cap_seconds)

    def delay(self, attempt: int, rnd: float) -> float:
        """Seconds to wait before the next attempt; ``rnd`` is a uniform draw in [0, 1)."""
        if not 0.0 <= rnd <= 1.0:
            raise InvalidInput("rnd must be a uniform draw in [0, 1]")
        return self.ceiling(attempt) * rnd
