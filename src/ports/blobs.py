"""The blob store port: the bytes of uploaded files and pasted text.

Contract: ``put`` streams without holding the whole body in memory and stops with
``BlobTooLarge`` past ``max_bytes`` (leaving nothing behind); ``open`` streams a blob in
chunks; ``delete`` is idempotent; a missing key raises ``BlobNotFound``. Keys are
relative paths of ``[A-Za-z0-9._/-]`` without ``..``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domain.errors import LimitExceeded, SluiceError, TransientError


class BlobStoreError(SluiceError):
    code = "blob_store_error"


class BlobNotFound(BlobStoreError):
    code = "blob_not_found"


class BlobStoreUnavailable(TransientError):
    code = "blob_store_unavailable"


class BlobTooLarge(LimitExceeded):
    def __init__(self, max_bytes: int) -> None:
        super().__init__("max_upload_bytes", f"the upload is larger than the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    sha256: str


_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise BlobStoreError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> BlobInfo: ...

    def open(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A readable local file with the blob's bytes for the duration of the block
        (the file itself for a folder store, a temporary download otherwise)."""
        ...
