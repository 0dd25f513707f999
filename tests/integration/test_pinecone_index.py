"""The Pinecone index with the real SDK against the stand-in: request limits, metadata
translation, deletion by id prefix, retries and errors (the contract is in
tests/contract/test_vector_index.py)."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from adapters.pinecone.codec import MAX_METADATA_BYTES, RESERVED, decode_id, encode_id
from adapters.pinecone.vectors import PineconeVectorIndex
from domain.vectors import VectorRecord, source_prefix, vector_id
from ports.vectors import VectorIndexError, VectorIndexUnavailable
from standins.pinecone import MAX_REQUEST_BYTES, PineconeStandIn

NS = "agent-1"
SID = str(uuid.uuid4())


@pytest.fixture
def server():
    with PineconeStandIn() as running:
        yield running


@pytest.fixture
async def make(server):
    made: list[PineconeVectorIndex] = []

    def build(**options) -> PineconeVectorIndex:
        made.append(PineconeVectorIndex(**{"api_key": server.api_key, "host": server.url, **options}))
        return made[-1]

    yield build
    for index in made:
        await index.close()


def records(n: int, dim: int, *, source: str = SID, text: str = "chunk", seed: int = 0) -> list[VectorRecord]:
    rng = np.random.default_rng(seed)
    return [
        VectorRecord(
            id=vector_id(source, i),
            values=rng.standard_normal(dim).tolist(),
            metadata={"source_id": source, "chunk_index": i, "text": f"{text} {i}"},
        )
        for i in range(n)
    ]


def upserts(server: PineconeStandIn) -> list:
    return server.calls("/vectors/upsert")


async def test_upserts_hold_at_most_1000_records(server, make) -> None:
    await make().upsert(NS, records(2500, 4))
    sizes = [len(r.body["vectors"]) for r in upserts(server)]
    assert sorted(sizes) == [500, 1000, 1000]
    assert len(server.ids(NS)) == 2500


async def test_upserts_of_wide_vectors_stay_under_2_mb(server, make) -> None:
    await make().upsert(NS, records(300, 1536, text="x" * 2000))
    requests = upserts(server)
    sent = [len(json.dumps(r.body).encode()) for r in requests]
    assert all(size <= MAX_REQUEST_BYTES for size in sent)
    assert len(requests) <= 2 * -(-sum(sent) // MAX_REQUEST_BYTES)  # bounds are within a factor of 2
    assert len(server.ids(NS)) == 300


async def test_metadata_pinecone_cannot_hold_is_kept_in_one_field(server, make) -> None:
    meta = {"source_id": SID, "chunk_index": 2, "page": None, "nested": {"a": [1, 2]}, "tags": ["x"], "w": 0.5}
    await make().upsert(NS, [VectorRecord(id=vector_id(SID, 2), values=[1.0, 0.0], metadata=meta)])
    stored = server.namespaces[NS][vector_id(SID, 2)][1]
    assert stored["source_id"] == SID and stored["chunk_index"] == 2.0 and stored["tags"] == ["x"]
    assert "nested" not in stored and "page" not in stored
    assert json.loads(stored[RESERVED]) == {"i": ["chunk_index"], "j": {"page": None, "nested": {"a": [1, 2]}}}
    [match] = await make().query(NS, [1.0, 0.0], top_k=1)
    assert match.metadata == meta and type(match.metadata["chunk_index"]) is int


async def test_metadata_over_40_kb_has_its_text_cut(server, make) -> None:
    text = "Grüße, " * 8000  # 64,000 bytes of UTF-8
    meta = {"source_id": SID, "chunk_index": 0, "text": text}
    index = make()
    await index.upsert(NS, [VectorRecord(id=vector_id(SID, 0), values=[1.0, 0.0], metadata=meta)])
    [match] = await index.query(NS, [1.0, 0.0], top_k=1)
    kept = match.metadata["text"]
    assert match.metadata["text_truncated"] is True and text.startswith(kept)
    assert MAX_METADATA_BYTES - 100 < len(json.dumps(match.metadata, ensure_ascii=False).encode()) <= 40 * 1024


async def test_metadata_too_large_without_its_text_is_refused(server, make) -> None:
    meta = {"source_id": SID, "chunk_index": 0, "blob": "b" * 50_000}
    with pytest.raises(VectorIndexError, match="40 KB"):
        await make().upsert(NS, [VectorRecord(id=vector_id(SID, 0), values=[1.0, 0.0], metadata=meta)])
    assert upserts(server) == []


async def test_a_record_whose_id_does_not_name_its_source_is_refused(make) -> None:
    with pytest.raises(VectorIndexError, match="does not start with"):
        await make().upsert(NS, [VectorRecord(id="other#0", values=[1.0, 0.0], metadata={"source_id": SID})])


async def test_a_zero_vector_is_refused_clearly(make) -> None:
    with pytest.raises(VectorIndexError, match="all zeros"):
        await make().upsert(NS, [VectorRecord(vector_id(SID, 0), [0.0, 0.0], {"source_id": SID})])


async def test_delete_source_lists_by_prefix_and_deletes_in_batches(server, make) -> None:
    index = make()
    other = str(uuid.uuid4())
    await index.upsert(NS, records(2345, 2) + records(10, 2, source=other))
    await index.delete_source(NS, SID)
    assert [i for i in server.ids(NS) if i.startswith(source_prefix(SID))] == []
    assert len(server.ids(NS)) == 10
    lists = server.calls("/vectors/list")
    assert len(lists) == 24 and all(r.query["prefix"] == [source_prefix(SID)] for r in lists)
    assert all(r.query["limit"] == ["100"] for r in lists)
    deletes = [len(r.body["ids"]) for r in server.calls("/vectors/delete")]
    assert sorted(deletes) == [345, 1000, 1000]


def test_ids_are_encoded_to_ascii_prefix_by_prefix() -> None:
    for vid in ["plain#0", "é#1", "50%#2", "日本#3", "\U0010ffff#4"]:
        encoded = encode_id(vid)
        assert encoded.isascii() and decode_id(encoded) == vid
        assert encoded.startswith(encode_id(vid[:2]))
    assert encode_id("agent-" + SID) == "agent-" + SID
    with pytest.raises(VectorIndexError, match="512"):
        encode_id("é" * 100)


async def test_top_k_is_clamped_to_1000(server, make) -> None:
    index = make()
    await index.upsert(NS, records(1200, 2))
    assert len(await index.query(NS, [1.0, 1.0], top_k=5000)) == 1000


async def test_429_and_5xx_are_retried(server, make) -> None:
    index = make()
    server.faults.fail_next(1, 429, retry_after="0")
    server.faults.fail_next(1, 503, retry_after="0")
    await index.upsert(NS, records(3, 2))
    assert len(server.ids(NS)) == 3 and server.faulted == 2


async def test_a_lasting_outage_is_transient(server, make) -> None:
    index = make()
    await index.ping()
    server.faults.fail_next(10, 503, retry_after="0")
    with pytest.raises(VectorIndexUnavailable, match="503"):
        await index.query(NS, [1.0, 0.0], top_k=1)
    server.faults.clear()


async def test_a_bad_key_is_permanent_and_named(server, make) -> None:
    with pytest.raises(VectorIndexError, match="PINECONE_API_KEY") as caught:
        await make(api_key="wrong").count(NS)
    assert not caught.value.transient


async def test_an_index_by_name_is_found_through_the_control_plane(server, make) -> None:
    index = make(host=None, index_name="sluice", controller_host=server.url)
    await index.upsert(NS, records(3, 2))
    assert await index.count(NS) == 3
    assert len(server.calls("/indexes/sluice")) == 1
    with pytest.raises(VectorIndexError, match="not found: check PINECONE_INDEX"):
        await make(host=None, index_name="missing", controller_host=server.url).count(NS)


async def test_an_unreachable_index_is_transient(make) -> None:
    index = make(host="http://127.0.0.1:1", timeout_seconds=1)
    with pytest.raises(VectorIndexUnavailable, match="cannot be reached"):
        await index.count(NS)
