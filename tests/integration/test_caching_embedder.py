"""The caching embedder in front of the OpenAI stand-in: what is sent, what is not."""

from __future__ import annotations

import logging

import pytest

from adapters.caching.embedder import CachingEmbedder, text_key
from adapters.local.embedding_cache import SqliteEmbeddingCache
from adapters.memory.embedding_cache import MemoryEmbeddingCache
from adapters.openai.embedder import OpenAIEmbedder
from standins.openai import OpenAIStandIn


@pytest.fixture
def server():
    with OpenAIStandIn() as running:
        yield running


@pytest.fixture
async def openai(server):
    made: list[CachingEmbedder | OpenAIEmbedder] = []

    def build(dimensions: int = 32) -> OpenAIEmbedder:
        made.append(OpenAIEmbedder(api_key=server.api_key, base_url=server.base_url, dimensions=dimensions))
        return made[-1]

    yield build
    for embedder in made:
        await embedder.close()


def test_the_key_is_the_sha256_of_the_text() -> None:
    assert text_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert text_key("lone \ud800") != text_key("lone \ufffd")


async def test_unchanged_texts_are_not_embedded_again(server, openai, tmp_path) -> None:
    embedder = CachingEmbedder(openai(), SqliteEmbeddingCache(tmp_path))
    first = await embedder.embed_documents(["alpha text", "beta text", "alpha text"])
    assert first.tokens > 0 and server.embedded_inputs == 2

    again = await embedder.embed_documents(["beta text", "alpha text"])
    assert again.tokens == 0 and server.embedded_inputs == 2
    assert again.vectors == [first.vectors[1], first.vectors[0]]

    mixed = await embedder.embed_documents(["alpha text", "gamma text"])
    assert server.embedded_inputs == 3 and server.embedding_requests()[-1].body["input"] == ["gamma text"]
    assert mixed.tokens == server.batches[-1][1]
    assert (embedder.hits, embedder.misses) == (3, 3)
    await embedder.close()


async def test_a_new_model_or_dimension_never_gets_old_vectors(server, openai) -> None:
    cache = MemoryEmbeddingCache()
    small = CachingEmbedder(openai(dimensions=32), cache)
    large = CachingEmbedder(openai(dimensions=64), cache)
    assert small.space == "text-embedding-3-small:32" != large.space
    await small.embed_documents(["same text"])
    vector = (await large.embed_documents(["same text"])).vectors[0]
    assert len(vector) == 64 and server.embedded_inputs == 2


async def test_a_broken_cache_only_costs_its_savings(server, openai, tmp_path, caplog) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    embedder = CachingEmbedder(openai(), SqliteEmbeddingCache(blocked / "cache"))
    with caplog.at_level(logging.WARNING, logger="sluice.embed.cache"):
        result = await embedder.embed_documents(["one", "two"])
        await embedder.embed_documents(["one", "two"])
    assert len(result.vectors) == 2 and server.embedded_inputs == 4
    assert "embedding cache unavailable" in caplog.text
    await embedder.close()


async def test_queries_pass_through(server, openai) -> None:
    embedder = CachingEmbedder(openai(), MemoryEmbeddingCache())
    document = (await embedder.embed_documents(["how do I reset my password"])).vectors[0]
    query = await embedder.embed_query("how do I reset my password")
    assert query == pytest.approx(document, abs=1e-6)
    assert len(server.embedding_requests()) == 2
