"""The EmbeddingCache contract (src/ports/embedding_cache.py): memory, SQLite file, Redis."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlparse

import numpy as np
import pytest

from adapters.local.embedding_cache import SqliteEmbeddingCache
from adapters.memory.embedding_cache import MemoryEmbeddingCache
from ports.embedding_cache import EmbeddingCache, EmbeddingCacheUnavailable
from services import REDIS_URL, need, port_open

SPACE = "model-a:4"


class Caches:
    """Opens caches of one kind on one shared location (Redis prefix, SQLite folder)."""

    def __init__(self, kind: str, tmp_path) -> None:
        self.kind = kind
        self.folder = tmp_path / "data"
        self.prefix = f"sluice-test:embedding-cache:{uuid.uuid4().hex}"
        self.opened: list[EmbeddingCache] = []

    def __call__(self, max_entries: int = 1000) -> EmbeddingCache:
        if self.kind == "memory":
            cache: EmbeddingCache = MemoryEmbeddingCache(max_entries)
        elif self.kind == "sqlite":
            cache = SqliteEmbeddingCache(self.folder, max_entries=max_entries)
        else:
            from adapters.redis.embedding_cache import RedisEmbeddingCache

            cache = RedisEmbeddingCache(REDIS_URL, prefix=self.prefix, max_entries=max_entries)
        self.opened.append(cache)
        return cache


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def caches(request, tmp_path):
    if request.param == "redis":
        url = urlparse(REDIS_URL)
        if not port_open(url.hostname or "127.0.0.1", url.port or 6379):
            need("Redis", f"nothing listens at {REDIS_URL}")
    made = Caches(request.param, tmp_path)
    yield made
    for cache in made.opened:
        await cache.close()
    if request.param == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        async for key in client.scan_iter(f"{made.prefix}:*"):
            await client.delete(key)
        await client.aclose()


def vec(seed: int, dim: int = 4) -> list[float]:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32).tolist()


async def test_put_then_get_in_order_with_misses(caches) -> None:
    cache = caches()
    await cache.put_many(SPACE, [("k1", vec(1)), ("k2", vec(2))])
    got = await cache.get_many(SPACE, ["k2", "nope", "k1", "k2"])
    assert got == [vec(2), None, vec(1), vec(2)]
    assert await cache.get_many(SPACE, []) == []


async def test_values_come_back_as_float32(caches) -> None:
    cache = caches()
    precise = [0.1, 1 / 3, -2.5e-8, 12345.678901]
    await cache.put_many(SPACE, [("k", precise)])
    [got] = await cache.get_many(SPACE, ["k"])
    assert got == np.asarray(precise, dtype=np.float32).tolist()
    assert got == pytest.approx(precise, rel=1e-6)


async def test_spaces_are_separate(caches) -> None:
    cache = caches()
    await cache.put_many("model-a:4", [("k", vec(1))])
    await cache.put_many("model-b:4", [("k", vec(2))])
    assert await cache.get_many("model-a:4", ["k"]) == [vec(1)]
    assert await cache.get_many("model-b:4", ["k"]) == [vec(2)]
    assert await cache.get_many("model-c:4", ["k"]) == [None]


async def test_put_replaces(caches) -> None:
    cache = caches()
    await cache.put_many(SPACE, [("k", vec(1))])
    await cache.put_many(SPACE, [("k", vec(2))])
    assert await cache.get_many(SPACE, ["k"]) == [vec(2)]


async def test_size_is_bounded_and_least_recently_used_go_first(caches) -> None:
    cache = caches(max_entries=5)
    assert cache.max_entries == 5
    await cache.put_many(SPACE, [(f"k{i}", vec(i)) for i in range(5)])
    await asyncio.sleep(0.002)  # last-use times are in milliseconds in Redis
    assert (await cache.get_many(SPACE, ["k0"]))[0] == vec(0)  # k0 is now the most recent
    await asyncio.sleep(0.002)
    await cache.put_many(SPACE, [("k5", vec(5)), ("k6", vec(6))])
    got = await cache.get_many(SPACE, [f"k{i}" for i in range(7)])
    kept = [i for i, v in enumerate(got) if v is not None]
    assert kept == [0, 3, 4, 5, 6]


async def test_a_large_batch(caches) -> None:
    cache = caches(max_entries=5000)
    entries = [(f"key-{i}", vec(i, dim=64)) for i in range(2048)]
    await cache.put_many("big:64", entries)
    got = await cache.get_many("big:64", [k for k, _ in entries])
    assert got == [v for _, v in entries]


@pytest.mark.parametrize("caches", ["sqlite", "redis"], indirect=True)
async def test_entries_are_shared_by_instances_on_one_location(caches) -> None:
    first, second = caches(), caches()
    await first.put_many(SPACE, [("k", vec(7))])
    assert await second.get_many(SPACE, ["k"]) == [vec(7)]


async def test_closed_cache_is_unavailable(caches) -> None:
    cache = caches()
    await cache.close()
    with pytest.raises(EmbeddingCacheUnavailable):
        await cache.get_many(SPACE, ["k"])


async def test_sqlite_cache_in_an_unusable_folder_is_unavailable(tmp_path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cache = SqliteEmbeddingCache(blocked / "data")
    try:
        with pytest.raises(EmbeddingCacheUnavailable):
            await cache.put_many(SPACE, [("k", vec(1))])
    finally:
        await cache.close()


async def test_redis_cache_that_cannot_reach_redis_is_unavailable() -> None:
    from adapters.redis.embedding_cache import RedisEmbeddingCache

    cache = RedisEmbeddingCache("redis://127.0.0.1:1/0", prefix="nowhere")
    try:
        with pytest.raises(EmbeddingCacheUnavailable):
            await cache.get_many(SPACE, ["k"])
        with pytest.raises(EmbeddingCacheUnavailable):
            await cache.put_many(SPACE, [("k", vec(1))])
    finally:
        await cache.close()
