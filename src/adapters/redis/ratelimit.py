"""A rate limiter shared by every process through Redis: two token buckets in one hash.

One Lua script refills both buckets from Redis's own clock (``TIME``: the workers'
clocks may disagree, the server's is one), takes the costs and answers the wait, all
atomically, in one round trip. So ten workers reserving at once see one budget, and
together make at most ``OPENAI_RPM`` requests and ``OPENAI_TPM`` tokens per minute
(plus the one-minute burst a full bucket allows, as the provider's own limiter does).
"""

from __future__ import annotations

from typing import Any

from adapters.memory.ratelimit import check_costs, check_limits
from ports.ratelimit import RateLimited, RateLimiterUnavailable

# KEYS[1]: the hash. ARGV: request cap, token cap, request cost, token cost, period, max wait.
# Returns "<wait>" when reserved, "!<wait>" when the wait would exceed max wait (nothing
# taken). Numbers travel as strings: Redis truncates a Lua number reply to an integer.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local caps = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local costs = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local period = tonumber(ARGV[5])
local max_wait = tonumber(ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
local at = tonumber(state[3]) or now
local elapsed = math.max(0, now - at)
local levels = {}
local wait = 0
for i = 1, 2 do
  local cap = caps[i]
  if cap > 0 then
    local rate = cap / period
    local level = tonumber(state[i]) or cap
    local left = math.min(cap, level + elapsed * rate) - costs[i]
    levels[i] = left
    if left < 0 then wait = math.max(wait, -left / rate) end
  else
    levels[i] = 0
  end
end
if wait > max_wait then
  return '!' .. string.format('%.6f', wait)
end
redis.call('HSET', KEYS[1], 'r', string.format('%.6f', levels[1]), 't', string.format('%.6f', levels[2]),
  'at', string.format('%.6f', now))
-- Forget the buckets once they would be full again anyway (and any debt is paid).
redis.call('PEXPIRE', KEYS[1], math.ceil((period + wait) * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisRateLimiter:
    """A ``RateLimiter`` whose budget is the Redis hash ``key``, shared by all its users."""

    def __init__(
        self,
        url: str,
        *,
        key: str,
        requests_per_period: int = 0,
        tokens_per_period: int = 0,
        period: float = 60.0,
        client: Any = None,
    ) -> None:
        check_limits(requests_per_period, tokens_per_period, period)
        from redis.asyncio import Redis

        self._client = client if client is not None else Redis.from_url(url)
        self._owns_client = client is None
        self._key = key
        self._caps = (requests_per_period, tokens_per_period)
        self._period = period
        self._script = self._client.register_script(_RESERVE)

    @property
    def requests_per_period(self) -> int:
        return self._caps[0]

    @property
    def tokens_per_period(self) -> int:
        return self._caps[1]

    async def reserve(self, requests: int, tokens: int, *, max_wait: float) -> float:
        from redis.exceptions import RedisError

        check_costs(requests, tokens, max_wait)
        if not any(self._caps):
            return 0.0
        args = [*self._caps, requests, tokens, self._period, max_wait]
        try:
            answer = await self._script(keys=[self._key], args=args)
        except RedisError as exc:
            raise RateLimiterUnavailable(f"the shared rate limit (Redis) cannot be reached: {exc}") from exc
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        if text.startswith("!"):
            wait = float(text[1:])
            raise RateLimited(
                f"the shared rate limit would delay this call by {wait:.1f}s (more than {max_wait:.1f}s)",
                retry_after=wait,
            )
        return float(text)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
