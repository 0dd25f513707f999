"""Sluice configured for production (OpenAI + Pinecone), run as a library against the
stand-ins: real jobs through the runner, the real SDKs on the wire.

The acceptance checks of the production adapters: rate-limited embeddings lose no job;
a re-processed source leaves exactly its new chunk count; a deleted source leaves none
of its ids; two agents never see each other's vectors; unchanged chunks are not
embedded again.
"""

from __future__ import annotations

import uuid

import pytest

from domain.jobs import JobStatus
from domain.vectors import source_prefix
from sluice import Sluice
from standins.openai import OpenAIStandIn
from standins.pinecone import PineconeStandIn

PARAGRAPHS = [
    "Sluice gates control the flow of water in canals and rivers.",
    "A returns policy lets customers send items back within thirty days.",
    "Lighthouses warn ships about rocks at night with a rotating beam.",
    "Sourdough bread rises slowly because wild yeast ferments the dough.",
    "The quarterly report shows revenue growth in the European market.",
    "Glaciers carve valleys as they move downhill under their own weight.",
]


def document(n: int, salt: str = "") -> str:
    return "\n\n".join(f"{PARAGRAPHS[i % len(PARAGRAPHS)]} Section {i} {salt}." for i in range(n))


@pytest.fixture
def openai_server():
    with OpenAIStandIn() as server:
        yield server


@pytest.fixture
def pinecone_server():
    with PineconeStandIn(dimension=256) as server:
        yield server


@pytest.fixture
def production(openai_server, pinecone_server, tmp_path):
    def open_sluice(**env: str) -> Sluice:
        return Sluice.embedded(
            tmp_path / "data",
            OPENAI_API_KEY=openai_server.api_key,
            OPENAI_BASE_URL=openai_server.base_url,
            OPENAI_EMBEDDING_DIMENSIONS="256",
            PINECONE_API_KEY=pinecone_server.api_key,
            PINECONE_HOST=pinecone_server.url,
            CHUNK_OVERLAP="0",
            **env,
        )

    return open_sluice


def ids_of(pinecone_server: PineconeStandIn, namespace: str, source_id: uuid.UUID) -> list[str]:
    return [i for i in pinecone_server.ids(namespace) if i.startswith(source_prefix(source_id))]


async def test_a_third_of_requests_rate_limited_fails_no_job(production, openai_server) -> None:
    openai_server.faults.fail_every(3, 429, retry_after="1")
    # A lost ticket (a worker that found no job to claim) is re-dispatched by the
    # reconciler after JOB_ORPHAN_SECONDS; short here, so a test never waits 10 s for it.
    quick = {"JOB_ORPHAN_SECONDS": "1", "JOB_RECONCILE_SECONDS": "0.5"}
    async with production(CHUNK_SIZE="24", JOB_CONCURRENCY="4", **quick) as sluice:
        agent = await sluice.agents.create_agent("support")
        jobs = [(await sluice.sources.create_text_source(agent.id, document(8, salt=f"doc {d}")))[1] for d in range(12)]
        finished = [await sluice.wait(job.id, timeout=60) for job in jobs]
    statuses = [job.status for job in finished]
    assert statuses == [JobStatus.COMPLETED] * 12, [job.error_message for job in finished]
    assert all(job.attempts == 1 for job in finished)  # the embedder absorbed the 429s
    assert openai_server.faulted >= 4
    assert openai_server.faulted * 3 >= len(openai_server.embedding_requests()) - 2
    assert sum(job.result["embedding_tokens"] for job in finished) == openai_server.embedded_tokens


async def test_a_job_sends_the_fewest_embedding_requests_the_limits_allow(production, openai_server) -> None:
    import random

    rng = random.Random(7)
    vocab = [f"term{i}" for i in range(4000)]
    paragraphs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(40, 160))) + "." for _ in range(3000)]
    async with production(CHUNK_SIZE="200", MAX_TEXT_MB="64") as sluice:
        agent = await sluice.agents.create_agent("big")
        _, job = await sluice.sources.create_text_source(agent.id, "\n\n".join(paragraphs))
        job = await sluice.wait(job.id, timeout=120)
    assert job.status is JobStatus.COMPLETED, job.error_message
    inputs = sum(n for n, _ in openai_server.batches)
    tokens = sum(t for _, t in openai_server.batches)
    assert inputs == job.result["chunks"] and tokens == job.result["embedding_tokens"]
    minimum = max(-(-inputs // 2048), -(-tokens // 250_000))
    assert minimum >= 3
    assert len(openai_server.batches) == minimum
    assert all(n <= 2048 and t <= 250_000 for n, t in openai_server.batches)


async def test_reprocess_delete_and_isolation_on_pinecone(production, openai_server, pinecone_server) -> None:
    async with production(CHUNK_SIZE="24") as sluice:
        first = await sluice.agents.create_agent("first")
        second = await sluice.agents.create_agent("second")
        source, job = await sluice.sources.create_text_source(first.id, document(12), name="doc")
        other, other_job = await sluice.sources.create_text_source(second.id, document(12), name="doc")
        job = await sluice.wait(job.id, timeout=30)
        other_job = await sluice.wait(other_job.id, timeout=30)
        assert job.status is JobStatus.COMPLETED and other_job.status is JobStatus.COMPLETED
        many = job.result["chunks"]
        assert many >= 12 and len(ids_of(pinecone_server, first.namespace, source.id)) == many
        assert job.result["embedding_tokens"] > 0

        # Two agents, the same text: each sees only its own vectors.
        assert set(pinecone_server.ids(first.namespace)).isdisjoint(pinecone_server.ids(second.namespace))
        for agent, own in ((first, source.id), (second, other.id)):
            hits = await sluice.search.search(agent.id, "can customers send items back?", top_k=50)
            assert hits and {hit.source_id for hit in hits} == {str(own)}
            assert "returns policy" in hits[0].text

    # The same source re-processed with bigger chunks: fewer of them, and no stale tail.
    async with production(CHUNK_SIZE="120") as sluice:
        _, rerun = await sluice.sources.reprocess_source(first.id, source.id)
        rerun = await sluice.wait(rerun.id, timeout=30)
        assert rerun.status is JobStatus.COMPLETED
        few = rerun.result["chunks"]
        assert few < many
        assert len(ids_of(pinecone_server, first.namespace, source.id)) == few
        assert (await sluice.agents.stats(first)).vectors == few

        # Unchanged chunks are not embedded again.
        requests_before = len(openai_server.embedding_requests())
        _, again = await sluice.sources.reprocess_source(first.id, source.id)
        again = await sluice.wait(again.id, timeout=30)
        assert again.status is JobStatus.COMPLETED and again.result["chunks"] == few
        assert again.result["embedding_tokens"] == 0
        assert len(openai_server.embedding_requests()) == requests_before

        await sluice.sources.delete_source(first.id, source.id)
        assert ids_of(pinecone_server, first.namespace, source.id) == []
        assert (await sluice.agents.stats(first)).vectors == 0
        assert len(ids_of(pinecone_server, second.namespace, other.id)) == other_job.result["chunks"]


async def test_the_container_picks_the_production_adapters(tmp_path) -> None:
    from adapters.caching.embedder import CachingEmbedder
    from adapters.local.embedding_cache import SqliteEmbeddingCache
    from adapters.memory.ratelimit import MemoryRateLimiter
    from adapters.openai.embedder import OpenAIEmbedder
    from adapters.pinecone.vectors import PineconeVectorIndex
    from adapters.redis.embedding_cache import RedisEmbeddingCache
    from adapters.redis.ratelimit import RedisRateLimiter
    from entrypoints.container import build_container
    from entrypoints.settings import Settings

    env = {"SLUICE_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-x", "OPENAI_RPM": "60"}
    embedded = build_container(Settings.from_env(env)).embedder()
    assert isinstance(embedded, CachingEmbedder) and isinstance(embedded.inner, OpenAIEmbedder)
    assert isinstance(embedded.cache, SqliteEmbeddingCache)
    assert isinstance(embedded.inner.limiter, MemoryRateLimiter)
    assert embedded.inner.limiter.requests_per_period == 60
    await embedded.close()

    env |= {"REDIS_URL": "redis://127.0.0.1:6379/0", "PINECONE_API_KEY": "pc-x", "PINECONE_HOST": "http://127.0.0.1:1"}
    container = build_container(Settings.from_env(env))
    distributed = container.embedder()
    assert isinstance(distributed.cache, RedisEmbeddingCache)
    assert isinstance(distributed.inner.limiter, RedisRateLimiter)
    assert isinstance(container.vectors(), PineconeVectorIndex)
    await distributed.close()
    await container.vectors().close()

    plain = build_container(Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": ""}))
    assert type(plain.embedder()).__name__ == "StaticEmbedder"  # the embedded default
    assert type(plain.vectors()).__name__ == "SqliteVectorIndex"
    uncached = build_container(Settings.from_env({**env, "EMBED_CACHE_MB": "0"})).embedder()
    assert isinstance(uncached, OpenAIEmbedder)
    await uncached.close()
