"""The blob store contract: memory, local folder, and S3 (aiobotocore against moto's
server on 127.0.0.1 — the real client, over HTTP)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.local.blobs import LocalBlobStore
from adapters.memory.blobs import MemoryBlobStore
from adapters.s3.blobs import S3BlobStore
from ports.blobs import BlobNotFound, BlobStoreError, BlobTooLarge

MB = 1024 * 1024


async def s3_store(endpoint: str) -> S3BlobStore:
    store = S3BlobStore(
        f"sluice-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
        part_size=5 * MB,
    )
    await (await store._s3()).create_bucket(Bucket=store.bucket)
    return store


@pytest.fixture(params=["memory", "local", "s3"])
async def blobs(request, tmp_path) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        store = await s3_store(request.getfixturevalue("moto_endpoint"))
        yield store
        await store.close()


async def body(data: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def read(blobs, key: str, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in blobs.open(key, chunk_size=chunk_size)])


async def test_put_then_open_gives_the_same_bytes_size_and_digest(blobs):
    data = os.urandom(300_000)
    info = await blobs.put("agents/a/sources/s/file.pdf", body(data))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await read(blobs, "agents/a/sources/s/file.pdf", chunk_size=10_000) == data
    assert await blobs.exists("agents/a/sources/s/file.pdf")


async def test_a_blob_larger_than_a_part_streams_both_ways(blobs):
    data = os.urandom(12 * MB + 123)  # three S3 parts, the last one short
    info = await blobs.put("big/blob.bin", body(data, piece=256 * 1024))
    assert info.size == len(data)
    chunks = [chunk async for chunk in blobs.open("big/blob.bin", chunk_size=MB)]
    assert max(len(c) for c in chunks) <= MB and b"".join(chunks) == data


async def test_past_max_bytes_put_fails_and_leaves_nothing(blobs):
    with pytest.raises(BlobTooLarge) as raised:
        await blobs.put("too/big.bin", body(os.urandom(11 * MB), piece=MB), max_bytes=6 * MB)
    assert raised.value.limit == "max_upload_bytes"
    assert not await blobs.exists("too/big.bin")
    with pytest.raises(BlobNotFound):
        await read(blobs, "too/big.bin")


async def test_a_blob_exactly_at_the_limit_is_accepted(blobs):
    info = await blobs.put("edge.bin", body(b"x" * 1000), max_bytes=1000)
    assert info.size == 1000


async def test_put_replaces_an_existing_blob(blobs):
    await blobs.put("k.txt", body(b"first"))
    await blobs.put("k.txt", body(b"second"))
    assert await read(blobs, "k.txt") == b"second"


async def test_an_empty_blob_is_a_blob(blobs):
    info = await blobs.put("empty.txt", body(b""))
    assert info.size == 0 and await blobs.exists("empty.txt") and await read(blobs, "empty.txt") == b""


async def test_missing_blobs_raise_not_found(blobs):
    assert not await blobs.exists("nope/x.txt")
    with pytest.raises(BlobNotFound):
        await read(blobs, "nope/x.txt")
    with pytest.raises(BlobNotFound):
        async with blobs.local_copy("nope/x.txt"):
            pass


async def test_delete_is_idempotent(blobs):
    await blobs.put("d/x.txt", body(b"bye"))
    await blobs.delete("d/x.txt")
    await blobs.delete("d/x.txt")
    assert not await blobs.exists("d/x.txt")


async def test_local_copy_is_a_readable_file_with_the_bytes(blobs):
    data = os.urandom(70_000)
    await blobs.put("c/report.pdf", body(data))
    async with blobs.local_copy("c/report.pdf") as path:
        assert path.read_bytes() == data


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../b", "/abs", "sp ace", "a//b", ""])
async def test_unsafe_keys_are_refused(blobs, key):
    with pytest.raises(BlobStoreError):
        await blobs.put(key, body(b"x"))


async def test_an_unreachable_object_store_is_a_port_error_not_a_botocore_one():
    from ports.blobs import BlobStoreUnavailable
    from services import free_port

    store = S3BlobStore(
        "nowhere", endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1", access_key_id="t",
        secret_access_key="t",
    )  # fmt: skip
    try:
        with pytest.raises(BlobStoreUnavailable, match="unreachable"):
            await store.put("a/b.txt", body(b"x"))
    finally:
        await store.close()


async def test_a_missing_bucket_is_a_clear_blob_store_error(moto_endpoint):
    store = S3BlobStore(
        "no-such-bucket-here", endpoint_url=moto_endpoint, region="us-east-1", access_key_id="t",
        secret_access_key="t",
    )  # fmt: skip
    try:
        with pytest.raises(BlobStoreError, match="NoSuchBucket"):
            await store.put("a/b.txt", body(b"x"))
    finally:
        await store.close()
