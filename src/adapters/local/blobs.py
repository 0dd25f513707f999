"""Blobs as files under one folder: the embedded mode's blob store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from ports.blobs import BlobInfo, BlobNotFound, BlobStoreError, BlobStoreUnavailable, BlobTooLarge, check_key

# Blobs up to this size are written by one call on a thread (see ``put``).
SMALL_BLOB = 1 << 20


def _create(path: Path, tmp: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(tmp, "wb")


def _write(path: Path, tmp: Path, chunks: list[bytes]) -> None:
    with _create(path, tmp) as handle:
        handle.writelines(chunks)
    os.replace(tmp, path)


def _open_and_read(path: Path, size: int) -> tuple[BinaryIO | None, bytes]:
    """The open file and its first ``size`` bytes; no file when those are all of it."""
    handle = open(path, "rb")  # noqa: SIM115 - closed here or by the caller
    try:
        chunk = handle.read(size)
    except BaseException:
        handle.close()
        raise
    if len(chunk) < size:  # a regular file reads short only at its end
        handle.close()
        return None, chunk
    return handle, chunk


class LocalBlobStore:
    """Writes go to a temporary file then ``os.replace``: a reader never sees half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> BlobInfo:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        size = 0

        def take(chunk: bytes) -> bytes:
            nonlocal size
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise BlobTooLarge(max_bytes)
            digest.update(chunk)
            return chunk

        # Read ahead: a small blob (a pasted text) is written by one call on a thread
        # instead of one per step (each hop to a thread costs about 50 microseconds).
        stream = aiter(chunks)
        head: list[bytes] = []
        complete = False
        while size <= SMALL_BLOB:
            try:
                head.append(take(await anext(stream)))
            except StopAsyncIteration:
                complete = True
                break
        try:
            if complete:
                await asyncio.to_thread(_write, path, tmp, head)
            else:
                handle = await asyncio.to_thread(_create, path, tmp)
                try:
                    await asyncio.to_thread(handle.writelines, head)
                    async for chunk in stream:
                        await asyncio.to_thread(handle.write, take(chunk))
                finally:
                    await asyncio.to_thread(handle.close)
                await asyncio.to_thread(os.replace, tmp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(tmp.unlink, missing_ok=True)
            if isinstance(exc, OSError):
                raise BlobStoreUnavailable(f"cannot write blob {key}: {exc.strerror or exc}") from exc
            raise
        return BlobInfo(key=key, size=size, sha256=digest.hexdigest())

    async def open(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            # The file and its first chunk in one call: a small blob needs no other.
            handle, chunk = await asyncio.to_thread(_open_and_read, path, chunk_size)
        except FileNotFoundError:
            raise BlobNotFound(f"blob {key} not found") from None
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {key}: {exc.strerror or exc}") from exc
        if handle is None:
            if chunk:
                yield chunk
            return
        try:
            while chunk:
                yield chunk
                chunk = await asyncio.to_thread(handle.read, chunk_size)
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blob {key}: {exc.strerror or exc}") from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not await asyncio.to_thread(path.is_file):
            raise BlobNotFound(f"blob {key} not found")
        yield path
