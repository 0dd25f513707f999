"""The VectorIndex contract (src/ports/vectors.py), run against every adapter.

The Pinecone index runs with the real SDK against the stand-in of
``tests/standins/pinecone.py`` (a fresh index per test). Its dimension belongs to the
index, not to a namespace (``INDEX_WIDE_DIMENSION``): the tests of per-namespace
dimensions run on the other adapters, and a Pinecone test checks the refusal instead.

The second half holds what only a persistent index promises: the same answers after a
restart, and writes through one instance seen by another on the same folder (as an API
process sees what a worker process wrote).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import sys
import uuid
from collections.abc import Callable

import numpy as np
import pytest

from adapters.local.vectors import SqliteVectorIndex
from adapters.memory.vectors import MemoryVectorIndex
from domain.vectors import VectorFilter, VectorRecord, source_prefix, vector_id
from ports.vectors import VectorIndex, VectorIndexError, VectorIndexUnavailable
from standins.pinecone import PineconeStandIn

NS = "agent-a"
OTHER_NS = "agent-b"


@pytest.fixture
async def memory_index():
    index = MemoryVectorIndex()
    yield index
    await index.close()


@pytest.fixture
async def sqlite_index(tmp_path):
    index = SqliteVectorIndex(tmp_path / "data")
    yield index
    await index.close()


@pytest.fixture
async def sqlite_ivf_index(tmp_path):
    # Every namespace searched through the IVF partition, every cell probed: the answers
    # must be the exact ones, which checks the partition's bookkeeping under every write.
    index = SqliteVectorIndex(tmp_path / "data", approximate_from=1, probe_share=1.0)
    yield index
    await index.close()


@pytest.fixture
def pinecone_server():
    with PineconeStandIn() as server:
        yield server


@pytest.fixture
async def pinecone_index(pinecone_server):
    from adapters.pinecone.vectors import PineconeVectorIndex

    index = PineconeVectorIndex(api_key=pinecone_server.api_key, host=pinecone_server.url)
    yield index
    await index.close()


INDEXES = ["memory_index", "sqlite_index", "sqlite_ivf_index", "pinecone_index"]
INDEX_WIDE_DIMENSION = {"pinecone_index"}


@pytest.fixture(params=INDEXES)
def index(request: pytest.FixtureRequest) -> VectorIndex:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=[name for name in INDEXES if name not in INDEX_WIDE_DIMENSION])
def namespaced_index(request: pytest.FixtureRequest) -> VectorIndex:
    """The adapters whose namespaces each take the dimension of the vectors they hold."""
    return request.getfixturevalue(request.param)


def record(source: str, chunk: int, values, **extra) -> VectorRecord:
    metadata = {"source_id": source, "chunk_index": chunk, "text": f"chunk {chunk} of {source}", **extra}
    return VectorRecord(id=vector_id(source, chunk), values=list(values), metadata=metadata)


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def random_records(source: str, n: int, dim: int, seed: int) -> list[VectorRecord]:
    rng = np.random.default_rng(seed)
    return [record(source, i, rng.standard_normal(dim)) for i in range(n)]


SID = str(uuid.uuid4())
SID2 = str(uuid.uuid4())


# -- writing and reading back ---------------------------------------------------------------


async def test_upsert_then_count_and_query(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0, 0]), record(SID, 1, [0, 1, 0])])
    assert await index.count(NS) == 2
    [match] = await index.query(NS, [1, 0, 0], top_k=1)
    assert match.id == vector_id(SID, 0)
    assert match.score == pytest.approx(1.0, abs=1e-6)
    assert match.metadata["chunk_index"] == 0


async def test_upsert_of_an_existing_id_replaces_vector_and_metadata(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0, 0], version=1), record(SID, 1, [0, 1, 0])])
    await index.upsert(NS, [record(SID, 0, [0, 0, 1], version=2)])
    assert await index.count(NS) == 2
    best = (await index.query(NS, [0, 0, 1], top_k=1))[0]
    assert best.id == vector_id(SID, 0)
    assert best.metadata["version"] == 2
    assert best.score == pytest.approx(1.0, abs=1e-6)
    old_direction = {m.id: m.score for m in await index.query(NS, [1, 0, 0], top_k=2)}
    assert old_direction[vector_id(SID, 0)] == pytest.approx(0.0, abs=1e-6)


async def test_a_batch_repeating_an_id_keeps_the_last(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0], n=1), record(SID, 0, [0, 1], n=2)])
    assert await index.count(NS) == 1
    [match] = await index.query(NS, [0, 1], top_k=5)
    assert match.metadata["n"] == 2
    assert match.score == pytest.approx(1.0, abs=1e-6)


async def test_empty_upsert_is_a_no_op(index: VectorIndex) -> None:
    await index.upsert(NS, [])
    assert await index.count(NS) == 0


# -- query ------------------------------------------------------------------------------------


async def test_query_orders_by_cosine_similarity(index: VectorIndex) -> None:
    vectors = {0: [1, 0, 0, 0], 1: [1, 1, 0, 0], 2: [3, 1, 2, 0], 3: [-1, 0, 0, 0], 4: [0, 0, 5, 5]}
    await index.upsert(NS, [record(SID, i, v) for i, v in vectors.items()])
    query = [2.0, 0.5, 0.1, 0.0]  # not unit length: scores must not depend on lengths
    matches = await index.query(NS, query, top_k=5)
    expected = sorted(vectors, key=lambda i: -cosine(vectors[i], query))
    assert [m.id for m in matches] == [vector_id(SID, i) for i in expected]
    for m in matches:
        assert m.score == pytest.approx(cosine(vectors[int(m.id.rpartition("#")[2])], query), abs=1e-5)
    assert -1.0 <= matches[-1].score <= matches[0].score <= 1.0


async def test_query_returns_at_most_top_k(index: VectorIndex) -> None:
    await index.upsert(NS, random_records(SID, 20, 8, seed=1))
    assert len(await index.query(NS, [1.0] * 8, top_k=3)) == 3
    assert len(await index.query(NS, [1.0] * 8, top_k=1)) == 1
    assert len(await index.query(NS, [1.0] * 8, top_k=100)) == 20


async def test_top_k_below_one_is_rejected(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    with pytest.raises(VectorIndexError):
        await index.query(NS, [1, 0], top_k=0)


async def test_query_matches_brute_force_on_random_data(index: VectorIndex) -> None:
    dim = 32
    stored = random_records(SID, 300, dim, seed=2) + random_records(SID2, 300, dim, seed=3)
    await index.upsert(NS, stored)
    query = np.random.default_rng(4).standard_normal(dim)
    expected = sorted(stored, key=lambda r: -cosine(r.values, query))[:10]
    matches = await index.query(NS, query.tolist(), top_k=10)
    assert [m.id for m in matches] == [r.id for r in expected]
    assert [m.score for m in matches] == pytest.approx([cosine(r.values, query) for r in expected], abs=1e-5)


async def test_query_of_an_empty_or_unknown_namespace_returns_nothing(index: VectorIndex) -> None:
    assert await index.query("nobody", [1.0, 2.0], top_k=5) == []
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    await index.delete_ids(NS, [vector_id(SID, 0)])
    assert await index.query(NS, [1.0, 0.0], top_k=5) == []


async def test_a_zero_query_vector_scores_zero(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0]), record(SID, 1, [0, 1])])
    matches = await index.query(NS, [0, 0], top_k=2)
    assert len(matches) == 2
    assert all(m.score == 0.0 for m in matches)


async def test_filter_by_source_ids(index: VectorIndex) -> None:
    third = str(uuid.uuid4())
    await index.upsert(NS, random_records(SID, 10, 4, seed=5) + random_records(SID2, 10, 4, seed=6))
    await index.upsert(NS, random_records(third, 10, 4, seed=7))
    query = [1, 1, 1, 1]

    def only(*sources: str) -> VectorFilter:
        return VectorFilter(source_ids=frozenset(sources))

    matches = await index.query(NS, query, top_k=50, filter=only(SID2))
    assert len(matches) == 10
    assert {m.metadata["source_id"] for m in matches} == {SID2}
    matches = await index.query(NS, query, top_k=50, filter=only(SID, third))
    assert {m.metadata["source_id"] for m in matches} == {SID, third}
    assert len(matches) == 20
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    top3 = await index.query(NS, query, top_k=3, filter=only(SID))
    unfiltered = await index.query(NS, query, top_k=30)
    assert [m.id for m in top3] == [m.id for m in unfiltered if m.metadata["source_id"] == SID][:3]
    assert await index.query(NS, query, top_k=5, filter=only()) == []
    assert await index.query(NS, query, top_k=5, filter=only("no-such-source")) == []
    assert len(await index.query(NS, query, top_k=50, filter=VectorFilter())) == 30


# -- namespaces -------------------------------------------------------------------------------


async def test_namespaces_are_isolated(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0], owner="a")])
    await index.upsert(OTHER_NS, [record(SID, 0, [1, 0], owner="b"), record(SID, 1, [0, 1], owner="b")])
    assert await index.count(NS) == 1
    assert await index.count(OTHER_NS) == 2
    assert [m.metadata["owner"] for m in await index.query(NS, [1, 1], top_k=10)] == ["a"]
    assert await index.list_ids(NS, source_prefix(SID)) == [vector_id(SID, 0)]
    await index.delete_source(NS, SID)
    assert await index.count(OTHER_NS) == 2
    await index.delete_ids(OTHER_NS, [vector_id(SID, 1)])
    await index.upsert(NS, [record(SID, 1, [1, 1], owner="a")])
    assert await index.count(NS) == 1
    await index.delete_namespace(OTHER_NS)
    assert await index.count(NS) == 1
    assert await index.count(OTHER_NS) == 0


async def test_each_namespace_has_its_own_dimension(namespaced_index: VectorIndex) -> None:
    index = namespaced_index
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    await index.upsert(OTHER_NS, [record(SID, 0, [1, 0, 0, 0])])
    assert len(await index.query(OTHER_NS, [1, 0, 0, 0], top_k=1)) == 1


@pytest.fixture(params=sorted(INDEX_WIDE_DIMENSION))
def index_wide_index(request: pytest.FixtureRequest) -> VectorIndex:
    return request.getfixturevalue(request.param)


async def test_an_index_wide_dimension_holds_in_every_namespace(index_wide_index: VectorIndex) -> None:
    index = index_wide_index
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    with pytest.raises(VectorIndexError, match="2-dimensional"):
        await index.upsert(OTHER_NS, [record(SID, 0, [1, 0, 0, 0])])
    with pytest.raises(VectorIndexError, match="2-dimensional"):
        await index.query(OTHER_NS, [1, 0, 0, 0], top_k=1)
    await index.delete_namespace(NS)
    with pytest.raises(VectorIndexError, match="2-dimensional"):
        await index.upsert(NS, [record(SID, 0, [1, 0, 0])])
    await index.upsert(OTHER_NS, [record(SID, 0, [0, 1])])
    assert await index.count(OTHER_NS) == 1


async def test_delete_namespace(index: VectorIndex) -> None:
    await index.upsert(NS, random_records(SID, 5, 3, seed=8))
    await index.upsert(OTHER_NS, random_records(SID, 5, 3, seed=9))
    await index.delete_namespace(NS)
    await index.delete_namespace(NS)  # idempotent
    await index.delete_namespace("never-existed")
    assert await index.count(NS) == 0
    assert await index.query(NS, [1, 0, 0], top_k=5) == []
    assert await index.list_ids(NS, "") == []
    assert await index.count(OTHER_NS) == 5
    # The namespace can be used again.
    await index.upsert(NS, [record(SID, 0, [1, 0, 0])])
    assert [m.id for m in await index.query(NS, [1, 0, 0], top_k=5)] == [vector_id(SID, 0)]


async def test_a_deleted_namespace_takes_a_new_dimension(namespaced_index: VectorIndex) -> None:
    index = namespaced_index
    await index.upsert(NS, random_records(SID, 5, 3, seed=8))
    await index.delete_namespace(NS)
    await index.upsert(NS, [record(SID, 0, [1, 0, 0, 0, 0])])  # a new model
    assert [m.id for m in await index.query(NS, [1, 0, 0, 0, 0], top_k=5)] == [vector_id(SID, 0)]


# -- listing, deleting, counting -----------------------------------------------------------


async def test_list_ids_by_prefix(index: VectorIndex) -> None:
    # "abc" is a prefix of "abcd"; "abc#1" is a prefix of "abc#10". The separator in
    # source_prefix keeps sources apart.
    for source in ("abc", "abcd", "ab"):
        await index.upsert(NS, [record(source, i, [1, i]) for i in (0, 1, 2, 10)])
    await index.upsert(OTHER_NS, [record("abc", 99, [1, 1])])
    assert set(await index.list_ids(NS, source_prefix("abc"))) == {"abc#0", "abc#1", "abc#2", "abc#10"}
    assert set(await index.list_ids(NS, "abc#1")) == {"abc#1", "abc#10"}
    assert set(await index.list_ids(NS, "abcd#")) == {"abcd#0", "abcd#1", "abcd#2", "abcd#10"}
    assert len(await index.list_ids(NS, "ab")) == 12
    assert len(await index.list_ids(NS, "")) == 12
    assert await index.list_ids(NS, "zzz") == []
    assert await index.list_ids(NS, "ABC#") == []  # case-sensitive
    assert await index.list_ids("unknown", "") == []
    listed = await index.list_ids(NS, "")
    assert listed == sorted(listed)


async def test_list_ids_handles_uuids_wildcards_and_unicode(index: VectorIndex) -> None:
    odd = ["a_b#0", "a%b#0", "axb#0", "é#0", "\U0010ffff#0", "\U0010ffff\U0010ffff#0", "\ud7ff#0", "\ue000#0"]
    await index.upsert(NS, [VectorRecord(id=i, values=[1, 0], metadata={"source_id": i[:-2]}) for i in odd])
    await index.upsert(NS, [record(SID, i, [0, 1]) for i in range(3)] + [record(SID2, 0, [0, 1])])
    assert await index.list_ids(NS, source_prefix(SID)) == [vector_id(SID, i) for i in range(3)]
    assert await index.list_ids(NS, "a_b") == ["a_b#0"]
    assert await index.list_ids(NS, "a%") == ["a%b#0"]
    assert await index.list_ids(NS, "é") == ["é#0"]
    assert await index.list_ids(NS, "\U0010ffff") == ["\U0010ffff#0", "\U0010ffff\U0010ffff#0"]
    assert await index.list_ids(NS, "\U0010ffff\U0010ffff") == ["\U0010ffff\U0010ffff#0"]
    assert await index.list_ids(NS, "\ud7ff") == ["\ud7ff#0"]


async def test_delete_ids_is_idempotent(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, i, [1, i]) for i in range(4)])
    await index.delete_ids(NS, [vector_id(SID, 1), vector_id(SID, 3), "not-there#0"])
    assert await index.list_ids(NS, "") == [vector_id(SID, 0), vector_id(SID, 2)]
    await index.delete_ids(NS, [vector_id(SID, 1), vector_id(SID, 3)])
    await index.delete_ids(NS, [])
    await index.delete_ids("unknown", [vector_id(SID, 0)])
    assert await index.count(NS) == 2
    assert {m.id for m in await index.query(NS, [1, 1], top_k=10)} == {vector_id(SID, 0), vector_id(SID, 2)}


async def test_delete_source_removes_every_vector_of_that_source_only(index: VectorIndex) -> None:
    await index.upsert(NS, random_records(SID, 25, 4, seed=10) + random_records(SID2, 5, 4, seed=11))
    await index.delete_source(NS, SID)
    assert await index.count(NS) == 5
    assert await index.count(NS, source_id=SID) == 0
    assert await index.list_ids(NS, source_prefix(SID)) == []
    assert {m.metadata["source_id"] for m in await index.query(NS, [1, 0, 0, 0], top_k=50)} == {SID2}
    await index.delete_source(NS, SID)  # idempotent
    await index.delete_source("unknown", SID)
    assert await index.count(NS) == 5


async def test_count_with_and_without_source(index: VectorIndex) -> None:
    assert await index.count(NS) == 0
    await index.upsert(NS, random_records(SID, 7, 4, seed=12) + random_records(SID2, 3, 4, seed=13))
    assert await index.count(NS) == 10
    assert await index.count(NS, source_id=SID) == 7
    assert await index.count(NS, source_id=SID2) == 3
    assert await index.count(NS, source_id="other") == 0
    assert await index.count(OTHER_NS, source_id=SID) == 0
    await index.upsert(NS, random_records(SID, 7, 4, seed=14))  # same ids: replaced
    assert await index.count(NS, source_id=SID) == 7


# -- metadata ---------------------------------------------------------------------------------


async def test_metadata_round_trips(index: VectorIndex) -> None:
    metadata = {
        "source_id": SID,
        "agent_id": str(uuid.uuid4()),
        "chunk_index": 3,
        "text": 'Grüße aus Köln — 日本語 🦀\n"quoted" \\ back\u0000slash',
        "char_count": 1234,
        "score_hint": 0.125,
        "big": 2**53,
        "negative": -7.5e-12,
        "is_public": True,
        "is_draft": False,
        "tags": ["alpha", "βeta", ""],
        "nothing": None,
        "nested": {"page": 2, "url": "https://example.com/a?b=c"},
        "created_at": "2024-01-02T03:04:05.678Z",
    }
    await index.upsert(NS, [VectorRecord(id=vector_id(SID, 3), values=[0.5, 0.5], metadata=metadata)])
    [match] = await index.query(NS, [1, 1], top_k=1)
    assert match.metadata == metadata
    assert type(match.metadata["chunk_index"]) is int
    assert type(match.metadata["score_hint"]) is float
    assert match.metadata["is_public"] is True
    match.metadata["text"] = "changed by the caller"
    assert (await index.query(NS, [1, 1], top_k=1))[0].metadata == metadata


async def test_unserialisable_metadata_is_rejected_and_nothing_is_written(index: VectorIndex) -> None:
    good = record(SID, 0, [1, 0])
    for bad_meta in ({"source_id": SID, "when": object()}, {"source_id": SID, "x": math.nan}):
        bad = VectorRecord(id=vector_id(SID, 1), values=[0, 1], metadata=bad_meta)
        with pytest.raises(VectorIndexError):
            await index.upsert(NS, [good, bad])
    assert await index.count(NS) == 0


async def test_a_record_without_source_id_is_rejected(index: VectorIndex) -> None:
    with pytest.raises(VectorIndexError):
        await index.upsert(NS, [VectorRecord(id="x#0", values=[1, 0], metadata={"text": "orphan"})])
    assert await index.count(NS) == 0


# -- dimensions and bad vectors ---------------------------------------------------------------


async def test_a_vector_of_the_wrong_dimension_is_rejected(index: VectorIndex) -> None:
    await index.upsert(NS, [record(SID, 0, [1, 0, 0])])
    with pytest.raises(VectorIndexError, match="3-dimensional"):
        await index.upsert(NS, [record(SID, 1, [1, 0, 0, 0])])
    with pytest.raises(VectorIndexError, match="3-dimensional"):
        await index.upsert(NS, [record(SID, 0, [1, 0])])  # even when replacing
    with pytest.raises(VectorIndexError, match="3-dimensional"):
        await index.query(NS, [1, 0], top_k=1)
    assert await index.count(NS) == 1


async def test_a_batch_of_mixed_dimensions_is_rejected_whole(index: VectorIndex) -> None:
    with pytest.raises(VectorIndexError):
        await index.upsert(NS, [record(SID, 0, [1, 0]), record(SID, 1, [1, 0, 0])])
    assert await index.count(NS) == 0


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [math.inf, 0.0], [1e39, 0.0]])
async def test_empty_or_non_finite_vectors_are_rejected(index: VectorIndex, values: list[float]) -> None:
    with pytest.raises(VectorIndexError):
        await index.upsert(NS, [record(SID, 0, values)])
    assert await index.count(NS) == 0


async def test_an_emptied_namespace_accepts_a_new_dimension(namespaced_index: VectorIndex) -> None:
    index = namespaced_index
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    await index.query(NS, [1, 0], top_k=1)  # warm any cache
    await index.delete_source(NS, SID)
    await index.upsert(NS, [record(SID, 0, [0, 0, 1])])
    [match] = await index.query(NS, [0, 0, 1], top_k=1)
    assert match.score == pytest.approx(1.0, abs=1e-6)


# -- lifecycle and concurrency ------------------------------------------------------------------


async def test_ping(index: VectorIndex) -> None:
    await index.ping()


async def test_calls_after_close_fail_with_a_port_error(index: VectorIndex) -> None:
    await index.close()
    await index.close()  # idempotent
    with pytest.raises(VectorIndexError):
        await index.count(NS)


async def test_concurrent_writes_and_queries(index: VectorIndex) -> None:
    sources = [str(uuid.uuid4()) for _ in range(8)]

    async def write(n: int, source: str) -> None:
        await index.upsert(NS, random_records(source, 50, 16, seed=n))
        await index.query(NS, [1.0] * 16, top_k=5)

    await asyncio.gather(*(write(n, s) for n, s in enumerate(sources)))
    assert await index.count(NS) == 400
    await asyncio.gather(*(index.delete_source(NS, s) for s in sources[:4]))
    assert await index.count(NS) == 200
    matches = await index.query(NS, [1.0] * 16, top_k=500)
    assert {m.metadata["source_id"] for m in matches} == set(sources[4:])


async def test_reads_see_the_callers_writes_with_a_warm_cache(index: VectorIndex) -> None:
    await index.upsert(NS, random_records(SID, 100, 8, seed=15))
    await index.query(NS, [1.0] * 8, top_k=1)
    target = np.zeros(8)
    target[3] = 1.0
    await index.upsert(NS, [record(SID2, 0, target)])
    assert (await index.query(NS, target.tolist(), top_k=1))[0].id == vector_id(SID2, 0)
    await index.delete_ids(NS, [vector_id(SID2, 0)] + [vector_id(SID, i) for i in range(0, 100, 2)])
    ids = {m.id for m in await index.query(NS, target.tolist(), top_k=1000)}
    assert ids == {vector_id(SID, i) for i in range(1, 100, 2)}


# -- persistence: adapters that keep their vectors on disk ---------------------------------------


@pytest.fixture
async def open_sqlite(tmp_path):
    opened: list[SqliteVectorIndex] = []

    def open_index(**options) -> SqliteVectorIndex:
        opened.append(SqliteVectorIndex(tmp_path / "data", **options))
        return opened[-1]

    yield open_index
    for index in opened:
        await index.close()


@pytest.fixture
async def open_pinecone(pinecone_server):
    from adapters.pinecone.vectors import PineconeVectorIndex

    opened: list[PineconeVectorIndex] = []

    def open_index() -> PineconeVectorIndex:
        opened.append(PineconeVectorIndex(api_key=pinecone_server.api_key, host=pinecone_server.url))
        return opened[-1]

    yield open_index
    for index in opened:
        await index.close()


@pytest.fixture(params=["open_sqlite", "open_pinecone"])
def open_index(request: pytest.FixtureRequest) -> Callable[..., VectorIndex]:
    """Opens a new instance on one shared location, as another process or a restart would."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["open_sqlite"])
def open_namespaced_index(request: pytest.FixtureRequest) -> Callable[..., VectorIndex]:
    """``open_index`` for the adapters whose namespaces each take their own dimension."""
    return request.getfixturevalue(request.param)


async def test_survives_a_restart(open_index) -> None:
    first = open_index()
    stored = random_records(SID, 50, 8, seed=16) + random_records(SID2, 10, 8, seed=17)
    await first.upsert(NS, stored)
    await first.upsert(OTHER_NS, random_records(SID, 3, 8, seed=18))
    await first.delete_ids(NS, [vector_id(SID, 0)])
    query = [0.3, -1, 0.2, 0, 0, 0.5, 0.1, 1]
    before = await first.query(NS, query, top_k=10)
    await first.close()

    second = open_index()
    after = await second.query(NS, query, top_k=10)
    assert [(m.id, m.metadata) for m in after] == [(m.id, m.metadata) for m in before]
    assert [m.score for m in after] == pytest.approx([m.score for m in before], abs=1e-6)
    assert await second.count(NS) == 59
    assert await second.count(NS, source_id=SID2) == 10
    assert await second.count(OTHER_NS) == 3
    assert vector_id(SID, 0) not in await second.list_ids(NS, source_prefix(SID))
    with pytest.raises(VectorIndexError):
        await second.upsert(NS, [record(SID, 0, [1, 2, 3])])


async def test_writes_through_one_instance_are_seen_by_another(open_index) -> None:
    api, worker = open_index(), open_index()
    await worker.upsert(NS, random_records(SID, 20, 4, seed=19))
    assert len(await api.query(NS, [1, 0, 0, 0], top_k=100)) == 20  # api caches the namespace now

    await worker.upsert(NS, [record(SID2, 0, [0, 0, 0, 1])])
    assert (await api.query(NS, [0, 0, 0, 1], top_k=1))[0].id == vector_id(SID2, 0)
    await worker.upsert(NS, [record(SID, 15, [0, 0, -1, 0], rewritten=True)])  # replaces a cached row
    [best] = await api.query(NS, [0, 0, -1, 0], top_k=1)
    assert (best.id, best.metadata.get("rewritten")) == (vector_id(SID, 15), True)
    assert best.score == pytest.approx(1.0, abs=1e-6)
    assert await api.count(NS) == 21
    await worker.delete_source(NS, SID2)
    assert vector_id(SID2, 0) not in {m.id for m in await api.query(NS, [0, 0, 0, 1], top_k=100)}
    await worker.delete_ids(NS, [vector_id(SID, i) for i in range(10)])
    assert len(await api.query(NS, [1, 0, 0, 0], top_k=100)) == 10
    assert await api.count(NS) == 10

    # Both write in turn, each over a cache the other made stale.
    await api.upsert(NS, [record(SID2, 1, [0, 1, 0, 0])])
    await worker.upsert(NS, [record(SID2, 2, [0, 0, 1, 0])])
    await api.upsert(NS, [record(SID2, 3, [0, 1, 1, 0])])
    only_new = VectorFilter(source_ids=frozenset({SID2}))
    for index in (api, worker):
        matches = await index.query(NS, [0, 1, 1, 0], top_k=10, filter=only_new)
        assert {m.id for m in matches} == {vector_id(SID2, i) for i in (1, 2, 3)}
        assert await index.count(NS) == 13


async def test_a_recreated_namespace_is_never_mistaken_for_the_cached_one(open_namespaced_index) -> None:
    api, worker = open_namespaced_index(), open_namespaced_index()
    await worker.upsert(NS, [record(SID, 0, [1, 0])])
    assert len(await api.query(NS, [1, 0], top_k=5)) == 1
    await worker.delete_namespace(NS)
    await worker.upsert(NS, [record(SID2, 0, [0, 1, 0])])  # as many writes as before, new dimension
    [match] = await api.query(NS, [0, 1, 0], top_k=5)
    assert match.id == vector_id(SID2, 0)


_WRITE_ELSEWHERE = """
import asyncio, sys
from adapters.local.vectors import SqliteVectorIndex
from domain.vectors import VectorRecord

async def main(folder, source):
    index = SqliteVectorIndex(folder)
    await index.upsert("agent-a", [
        VectorRecord(id=f"{source}#{i}", values=[float(i), 1.0], metadata={"source_id": source, "i": i})
        for i in range(50)
    ])
    await index.delete_ids("agent-a", [f"{source}#{i}" for i in range(0, 50, 5)])
    await index.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.slow
async def test_sqlite_writes_from_another_process_are_seen(open_sqlite, tmp_path) -> None:
    api = open_sqlite()
    await api.upsert(NS, [record(SID, 0, [1, 0])])
    assert len(await api.query(NS, [1, 0], top_k=100)) == 1
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITE_ELSEWHERE, str(tmp_path / "data"), SID2, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    matches = await api.query(NS, [1, 0], top_k=100)
    assert len(matches) == 41
    assert await api.count(NS, source_id=SID2) == 40
    assert vector_id(SID2, 5) not in {m.id for m in matches}


# -- SQLite specifics -----------------------------------------------------------------------------


async def test_sqlite_small_cache_still_answers_every_namespace(open_sqlite) -> None:
    index = open_sqlite(cache_bytes=1)
    for n in range(3):
        await index.upsert(f"ns-{n}", random_records(SID, 30, 8, seed=20 + n))
    for _ in range(2):
        for n in range(3):
            matches = await index.query(f"ns-{n}", [1.0] * 8, top_k=30)
            assert len(matches) == 30
            assert await index.count(f"ns-{n}") == 30


async def test_sqlite_locked_database_is_unavailable(open_sqlite, tmp_path) -> None:
    index = open_sqlite(busy_timeout=0.05)
    await index.upsert(NS, [record(SID, 0, [1, 0])])
    blocker = sqlite3.connect(tmp_path / "data" / "vectors.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(VectorIndexUnavailable) as caught:
            await index.upsert(NS, [record(SID, 1, [0, 1])])
        assert isinstance(caught.value.__cause__, sqlite3.Error)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await index.upsert(NS, [record(SID, 1, [0, 1])])
    assert await index.count(NS) == 2


async def test_sqlite_unusable_folder_is_a_port_error(tmp_path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    index = SqliteVectorIndex(blocked / "data")
    try:
        with pytest.raises((VectorIndexUnavailable, VectorIndexError)):
            await index.count(NS)
    finally:
        await index.close()


async def test_sqlite_a_newer_schema_is_refused(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with sqlite3.connect(folder / "vectors.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    index = SqliteVectorIndex(folder)
    try:
        with pytest.raises(VectorIndexError, match="schema version 99"):
            await index.count(NS)
    finally:
        await index.close()


# -- SQLite: the saved IVF partition -----------------------------------------------------------

PARTITIONED = {"approximate_from": 500, "probe_share": 0.25}


def clustered_records(source: str, n: int, dim: int, seed: int) -> list[VectorRecord]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((12, dim))
    points = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim))
    return [record(source, i, p) for i, p in enumerate(points)]


def cached_matrix(index: SqliteVectorIndex, namespace: str):
    matrix = index._cache[namespace].matrix
    assert matrix is not None
    return matrix


def saved_generation(folder) -> int | None:
    with sqlite3.connect(folder / "vectors.sqlite3") as conn:
        row = conn.execute("SELECT generation FROM partitions WHERE namespace = ?", (NS,)).fetchone()
    return None if row is None else row[0]


async def test_sqlite_a_trained_partition_is_saved_and_reused_by_another_instance(open_sqlite, tmp_path) -> None:
    first = open_sqlite(**PARTITIONED)
    await first.upsert(NS, clustered_records(SID, 2_000, 16, seed=30))
    query = clustered_records(SID2, 1, 16, seed=31)[0].values
    before = await first.query(NS, query, top_k=10)  # trains the partition, saves it
    trained = cached_matrix(first, NS).partition
    assert trained is not None and saved_generation(tmp_path / "data") == 1

    second = open_sqlite(**PARTITIONED)
    after = await second.query(NS, query, top_k=10)
    loaded = cached_matrix(second, NS)
    assert loaded.partition is not None and np.array_equal(loaded.partition.centroids, trained.centroids)
    assert loaded.unsaved == 0  # every row took its saved cell: nothing assigned, nothing trained
    assert [(m.id, m.score) for m in after] == [(m.id, m.score) for m in before]


async def test_sqlite_rows_written_after_the_save_do_not_take_saved_cells(open_sqlite, tmp_path) -> None:
    first = open_sqlite(**PARTITIONED)
    stored = clustered_records(SID, 2_000, 16, seed=32)
    await first.upsert(NS, stored)
    await first.query(NS, stored[0].values, top_k=1)  # trains, saves at generation 1

    writer = open_sqlite(**PARTITIONED)  # another process, writing after the save
    far = [0.0] * 15 + [-100.0]
    await writer.upsert(NS, [record(SID, 0, far, moved=True), record(SID2, 0, [100.0] + [0.0] * 15)])
    await writer.delete_ids(NS, [vector_id(SID, 1)])

    reader = open_sqlite(**PARTITIONED)
    [moved] = await reader.query(NS, far, top_k=1)
    assert (moved.id, moved.metadata.get("moved"), moved.score) == (vector_id(SID, 0), True, pytest.approx(1.0))
    [added] = await reader.query(NS, [100.0] + [0.0] * 15, top_k=1)
    assert added.id == vector_id(SID2, 0)
    everything = await reader.query(NS, stored[1].values, top_k=5_000)
    assert len(everything) == 2_000 and vector_id(SID, 1) not in {m.id for m in everything}
    matrix = cached_matrix(reader, NS)
    assert matrix.unsaved == 2  # the rewritten and the new row were assigned, the rest loaded
    ids, cells = matrix.assignments()
    cell_of = dict(zip(ids, cells.tolist(), strict=True))
    assert matrix.partition is not None
    assert cell_of[vector_id(SID, 0)] == matrix.partition.assign(np.array([far], dtype=np.float32) / 100)[0]


async def test_sqlite_a_stale_partition_is_not_adopted(open_sqlite, tmp_path) -> None:
    folder = tmp_path / "data"
    first = open_sqlite(**PARTITIONED)
    await first.upsert(NS, clustered_records(SID, 1_000, 16, seed=33))
    await first.query(NS, [1.0] * 16, top_k=1)
    old = cached_matrix(first, NS).partition
    assert old is not None and saved_generation(folder) == 1

    # Most rows rewritten since the save: their saved cells say nothing any more.
    await first.upsert(NS, clustered_records(SID, 700, 16, seed=34))
    fresh = open_sqlite(**PARTITIONED)
    await fresh.query(NS, [1.0] * 16, top_k=1)
    retrained = cached_matrix(fresh, NS).partition
    assert retrained is not None and not np.array_equal(retrained.centroids, old.centroids)
    assert saved_generation(folder) == 2  # and the new partition replaced the stale one

    # A namespace deleted and written again, with another dimension: no partition survives.
    await first.delete_namespace(NS)
    assert saved_generation(folder) is None
    await first.upsert(NS, clustered_records(SID2, 600, 8, seed=35))
    again = open_sqlite(**PARTITIONED)
    matches = await again.query(NS, [1.0] * 8, top_k=3)
    assert len(matches) == 3 and all(m.id.startswith(SID2) for m in matches)
    partition = cached_matrix(again, NS).partition
    assert partition is not None and partition.centroids.shape[1] == 8


async def test_sqlite_a_namespace_that_doubled_since_the_save_is_partitioned_again(open_sqlite, tmp_path) -> None:
    first = open_sqlite(**PARTITIONED)
    await first.upsert(NS, clustered_records(SID, 600, 16, seed=36))
    await first.query(NS, [1.0] * 16, top_k=1)
    await first.upsert(NS, clustered_records(SID2, 700, 16, seed=37))
    second = open_sqlite(**PARTITIONED)
    await second.query(NS, [1.0] * 16, top_k=1)
    partition = cached_matrix(second, NS).partition
    assert partition is not None and partition.trained_rows == 1_300
    assert saved_generation(tmp_path / "data") == 2


async def test_sqlite_a_version_1_file_gains_the_partitions_table(open_sqlite, tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with sqlite3.connect(folder / "vectors.sqlite3") as conn:
        conn.execute("CREATE TABLE namespaces (name TEXT PRIMARY KEY, generation INTEGER NOT NULL,"
                     " last_delete INTEGER NOT NULL)")  # fmt: skip
        conn.execute("CREATE TABLE vectors (namespace TEXT NOT NULL, id TEXT NOT NULL, source_id TEXT NOT NULL,"
                     " version INTEGER NOT NULL, vector BLOB NOT NULL, metadata TEXT NOT NULL,"
                     " PRIMARY KEY (namespace, id))")  # fmt: skip
        conn.execute("PRAGMA user_version = 1")
    index = open_sqlite(**PARTITIONED)
    await index.upsert(NS, clustered_records(SID, 600, 16, seed=38))
    assert len(await index.query(NS, [1.0] * 16, top_k=5)) == 5
    assert saved_generation(folder) == 1


async def test_sqlite_an_unreadable_saved_partition_is_ignored(open_sqlite, tmp_path) -> None:
    first = open_sqlite(**PARTITIONED)
    stored = clustered_records(SID, 1_000, 16, seed=39)
    await first.upsert(NS, stored)
    expected = await first.query(NS, stored[5].values, top_k=3)
    with sqlite3.connect(tmp_path / "data" / "vectors.sqlite3") as conn:
        conn.execute("UPDATE partitions SET ids = 'not json', cells = x'010203'")
    second = open_sqlite(**PARTITIONED)
    assert [m.id for m in await second.query(NS, stored[5].values, top_k=3)] == [m.id for m in expected]
    third = open_sqlite(**PARTITIONED)  # second trained again and replaced the unreadable partition
    assert [m.id for m in await third.query(NS, stored[5].values, top_k=3)] == [m.id for m in expected]
    assert cached_matrix(third, NS).unsaved == 0


async def test_sqlite_a_partitioned_cache_follows_another_instances_writes(open_sqlite) -> None:
    # Every cell probed: answers must equal brute force over what the file holds now.
    exact_ivf = {"approximate_from": 500, "probe_share": 1.0}
    api, worker = open_sqlite(**exact_ivf), open_sqlite(**exact_ivf)
    stored = {r.id: r for r in clustered_records(SID, 900, 16, seed=40)}
    await worker.upsert(NS, list(stored.values()))
    query = clustered_records(SID2, 1, 16, seed=41)[0].values
    await api.query(NS, query, top_k=5)  # api trains, saves and caches the partition
    assert cached_matrix(api, NS).partition is not None

    rewritten = clustered_records(SID, 100, 16, seed=42)  # new vectors for 100 cached rows
    added = clustered_records(SID2, 50, 16, seed=43)
    await worker.upsert(NS, rewritten + added)
    await worker.delete_ids(NS, [vector_id(SID, i) for i in range(100, 130)])
    stored.update({r.id: r for r in rewritten + added})
    for i in range(100, 130):
        del stored[vector_id(SID, i)]
    for q in (query, added[0].values, rewritten[3].values):
        expected = sorted(stored.values(), key=lambda r: -cosine(r.values, q))[:10]
        assert [m.id for m in await api.query(NS, q, top_k=10)] == [r.id for r in expected]
    only_new = VectorFilter(source_ids=frozenset({SID2}))
    assert {m.id for m in await api.query(NS, query, top_k=100, filter=only_new)} == {r.id for r in added}
