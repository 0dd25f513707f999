"""The Embedder contract (src/ports/embed.py), run against every adapter (hashing,
static, OpenAI through its stand-in, and OpenAI behind the cache).

Only the port's promises are checked here, so another adapter joins by adding one
fixture and its name to ``EMBEDDERS``. What a particular adapter means by similarity is
tested beside that adapter. The OpenAI embedder runs with the real SDK against the
stand-in server of ``tests/standins/openai.py``, and also behind the embedding cache.
"""

from __future__ import annotations

import math

import pytest

from adapters.hashing.embedder import HashingEmbedder
from adapters.static.embedder import StaticEmbedder
from ports.embed import Embedder
from standins.openai import OpenAIStandIn


@pytest.fixture
async def hashing_embedder():
    embedder = HashingEmbedder()
    yield embedder
    await embedder.close()


@pytest.fixture(scope="module")
def static_embedder():
    return StaticEmbedder()  # loaded once: the table is read-only, and closing is a no-op


@pytest.fixture(scope="module")
def sentence_transformers_embedder():
    """Runs where the optional extra is installed (it brings PyTorch); skipped elsewhere."""
    pytest.importorskip("sentence_transformers", reason="the sentence-transformers extra is not installed")
    from adapters.sentencetransformers.embedder import SentenceTransformersEmbedder

    return SentenceTransformersEmbedder()


@pytest.fixture(scope="module")
def openai_server():
    with OpenAIStandIn() as server:
        yield server


@pytest.fixture
async def openai_embedder(openai_server):
    from adapters.openai.embedder import OpenAIEmbedder

    embedder = OpenAIEmbedder(api_key=openai_server.api_key, base_url=openai_server.base_url, dimensions=256)
    yield embedder
    await embedder.close()


@pytest.fixture
async def cached_openai_embedder(openai_server, tmp_path):
    from adapters.caching.embedder import CachingEmbedder
    from adapters.local.embedding_cache import SqliteEmbeddingCache
    from adapters.openai.embedder import OpenAIEmbedder

    inner = OpenAIEmbedder(api_key=openai_server.api_key, base_url=openai_server.base_url, dimensions=256)
    embedder = CachingEmbedder(inner, SqliteEmbeddingCache(tmp_path / "cache"))
    yield embedder
    await embedder.close()


EMBEDDERS = [
    "hashing_embedder",
    "static_embedder",
    "sentence_transformers_embedder",
    "openai_embedder",
    "cached_openai_embedder",
]


@pytest.fixture(params=EMBEDDERS)
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return request.getfixturevalue(request.param)


def assert_close(left, right, tol: float = 1e-6) -> None:
    assert len(left) == len(right)
    assert all(math.isclose(a, b, abs_tol=tol) for a, b in zip(left, right, strict=True))


async def test_describes_its_vector_space(embedder: Embedder) -> None:
    assert isinstance(embedder.model, str) and embedder.model
    assert embedder.dimensions > 0
    assert embedder.batch_size > 0


async def test_one_vector_per_input_in_order(embedder: Embedder) -> None:
    texts = ["the first text", "a second, different one", "and a third about something else"]
    together = await embedder.embed_documents(texts)
    assert len(together.vectors) == len(texts)
    for text, vector in zip(texts, together.vectors, strict=True):
        assert len(vector) == embedder.dimensions
        assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
        alone = await embedder.embed_documents([text])
        assert_close(vector, alone.vectors[0])


async def test_equal_inputs_give_equal_vectors(embedder: Embedder) -> None:
    first = await embedder.embed_documents(["same words here", "other", "same words here"])
    second = await embedder.embed_documents(["same words here"])
    assert_close(first.vectors[0], first.vectors[2])
    assert_close(first.vectors[0], second.vectors[0])


async def test_empty_list_gives_empty_result(embedder: Embedder) -> None:
    result = await embedder.embed_documents([])
    assert list(result.vectors) == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "!!! ??? ...",
        "naïve café Ärger straße",
        "日本語のテキスト",
        "emoji 🦀🚀 mix",
        "lone surrogate \ud800 here",
        "x" * 20_000,
    ],
)
async def test_unusual_inputs_do_not_crash(embedder: Embedder, text: str) -> None:
    result = await embedder.embed_documents([text])
    assert len(result.vectors) == 1
    assert len(result.vectors[0]) == embedder.dimensions
    assert all(math.isfinite(x) for x in result.vectors[0])


async def test_query_vector_matches_document_vector_of_same_text(embedder: Embedder) -> None:
    text = "How do I reset my password?"
    query = await embedder.embed_query(text)
    documents = await embedder.embed_documents([text])
    assert len(query) == embedder.dimensions
    assert_close(query, documents.vectors[0])


async def test_large_batch(embedder: Embedder) -> None:
    texts = [f"document number {i} talks about topic {i % 17}" for i in range(1000)]
    result = await embedder.embed_documents(texts)
    assert len(result.vectors) == 1000
    assert all(len(v) == embedder.dimensions for v in result.vectors)
    assert_close(result.vectors[123], (await embedder.embed_documents([texts[123]])).vectors[0])
