"""The distributed mode's embedding cache, in the Redis the queue already uses.

Why Redis rather than PostgreSQL: every worker already talks to it; a batch of 2048
lookups is one ``MGET`` round trip; it needs no schema migration; and a cache may lose
entries, which is what Redis is good at. The size is bounded by Sluice itself, never by
an instance-wide ``maxmemory`` policy, which would also evict the queue's keys:

* ``{prefix}:v:{space}:{key}``: the float32 vector, with a TTL (``ttl_seconds``);
* ``{prefix}:lru``: a sorted set of ``{space}:{key}`` by last use (milliseconds). A hit
  refreshes its score; a write adds entries and, in the same Lua script (atomic),
  pops the least recently used past ``max_entries`` and deletes their vectors.

With the default 1536 dimensions an entry is about 6.3 KB: ``EMBED_CACHE_MB`` is turned
into ``max_entries`` by the container. The script names the keys it deletes at run
time, so it needs one Redis (as SAQ does), not a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ports.embedding_cache import EmbeddingCacheUnavailable

# KEYS[1]: the LRU set. ARGV: value-key prefix, max entries, ttl ms, now ms, then
# member, vector pairs.
_PUT = """
local lru, prefix = KEYS[1], ARGV[1]
local max_entries, ttl, now = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 5, #ARGV, 2 do
  redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ttl)
  redis.call('ZADD', lru, now, ARGV[i])
end
local excess = redis.call('ZCARD', lru) - max_entries
if excess > 0 then
  local popped = redis.call('ZPOPMIN', lru, excess)
  for i = 1, #popped, 2 do
    redis.call('DEL', prefix .. popped[i])
  end
end
redis.call('PEXPIRE', lru, ttl)
return excess
"""


class RedisEmbeddingCache:
    """An ``EmbeddingCache`` in Redis under ``prefix``, shared by every worker."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sluice:embedding-cache",
        max_entries: int = 40_000,
        ttl_seconds: float = 30 * 86400,
        client: Any = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        from redis.asyncio import Redis

        self._client = client if client is not None else Redis.from_url(url)
        self._owns_client = client is None
        self._lru = f"{prefix}:lru"
        self._values = f"{prefix}:v:"
        self._max = max_entries
        self._ttl_ms = int(ttl_seconds * 1000)
        self._put = self._client.register_script(_PUT)
        self._closed = False

    @property
    def max_entries(self) -> int:
        return self._max

    async def get_many(self, space: str, keys: Sequence[str]) -> list[list[float] | None]:
        self._check_open()
        if not keys:
            return []
        from redis.exceptions import RedisError

        members = [f"{space}:{key}" for key in keys]
        try:
            blobs: list[Any] = await self._client.mget([self._values + m for m in members])
            hits = {m: 1 for m, blob in zip(members, blobs, strict=True) if blob is not None}
            if hits:
                now = await self._now_ms()
                await self._client.zadd(self._lru, dict.fromkeys(hits, now), xx=True)
        except RedisError as exc:
            raise EmbeddingCacheUnavailable(f"the embedding cache (Redis) cannot be reached: {exc}") from exc
        return [None if blob is None else np.frombuffer(blob, dtype="<f4").tolist() for blob in blobs]

    async def put_many(self, space: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        self._check_open()
        if not entries:
            return
        from redis.exceptions import RedisError

        args: list[Any] = [self._values, self._max, self._ttl_ms]
        pairs: list[Any] = []
        for key, vector in entries:
            pairs += [f"{space}:{key}", np.asarray(vector, dtype="<f4").tobytes()]
        try:
            now = await self._now_ms()
            await self._put(keys=[self._lru], args=[*args, now, *pairs])
        except RedisError as exc:
            raise EmbeddingCacheUnavailable(f"the embedding cache (Redis) cannot be reached: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise EmbeddingCacheUnavailable("the embedding cache is closed")

    async def _now_ms(self) -> int:
        # The server's clock: the workers' clocks may disagree, and LRU order is global.
        seconds, micros = await self._client.time()
        return int(seconds) * 1000 + int(micros) // 1000
