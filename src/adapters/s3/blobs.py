"""``S3BlobStore``: blobs as objects in one bucket, streamed both ways.

An upload is sent as a multipart upload in parts of ``part_size`` (S3 wants at least
5 MB per part but the last), so at most one part is in memory; a small one is a single
``PutObject``. Past ``max_bytes`` the multipart upload is aborted: nothing is left behind.
Every botocore error is translated at this edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from ports.blobs import BlobInfo, BlobNotFound, BlobStoreError, BlobStoreUnavailable, BlobTooLarge, check_key

MB = 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * MB,
    ) -> None:
        if part_size < 5 * MB:
            raise ValueError("S3 parts must be at least 5 MB")
        self.bucket = bucket
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._part_size = part_size
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def _s3(self) -> Any:
        if self._client is None:
            from aiobotocore.config import AioConfig

            stack = contextlib.AsyncExitStack()
            config = AioConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60)
            options = {k: v for k, v in self._options.items() if v is not None}
            self._client = await stack.enter_async_context(_session().create_client("s3", config=config, **options))
            self._stack = stack
        return self._client

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- writing ---------------------------------------------------------------------

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> BlobInfo:
        check_key(key)
        s3 = await self._s3()
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= self._part_size:
                    if upload_id is None:
                        created = await s3.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = created["UploadId"]
                    parts.append(await self._part(s3, key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                await s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
            else:
                if buffer:
                    parts.append(await self._part(s3, key, upload_id, len(parts) + 1, bytes(buffer)))
                await s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
                upload_id = None
        except BaseException as exc:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            if isinstance(exc, Exception):
                _translate(exc, key, "write")
            raise
        return BlobInfo(key=key, size=size, sha256=digest.hexdigest())

    async def _part(self, s3: Any, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = await s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    # -- reading ---------------------------------------------------------------------

    async def open(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        check_key(key)
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            _translate(exc, key, "read")
            raise
        async with answer["Body"] as body:
            while True:
                try:
                    chunk = await body.read(chunk_size)
                except Exception as exc:
                    _translate(exc, key, "read")
                    raise
                if not chunk:
                    return
                yield chunk

    async def delete(self, key: str) -> None:
        check_key(key)
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return
            _translate(exc, key, "delete")
            raise

    async def exists(self, key: str) -> bool:
        check_key(key)
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return False
            _translate(exc, key, "read")
            raise
        return True

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        """Download to a temporary file, a chunk at a time; removed after the block."""
        fd, name = tempfile.mkstemp(prefix="sluice-blob-", suffix=Path(key).suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in self.open(key):
                    await asyncio.to_thread(handle.write, chunk)
            yield Path(name)
        finally:
            await asyncio.to_thread(_remove, name)


def _remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


_SESSION: Any = None


def _session() -> Any:
    """One botocore session per process: it parses the service models once."""
    global _SESSION
    if _SESSION is None:
        from aiobotocore.session import get_session

        _SESSION = get_session()
    return _SESSION


def _is_missing(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code")
        # A missing bucket is a configuration error, not a missing blob.
        return code != "NoSuchBucket" and (code in _MISSING or status == 404)
    return False


def _translate(exc: BaseException, key: str, action: str) -> None:
    """Raise the port's error for a botocore one (returns for anything else)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        if _is_missing(exc):
            raise BlobNotFound(f"blob {key} not found") from exc
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        message = f"cannot {action} blob {key}: {error.get('Code', 'error')} {error.get('Message', '')}".strip()
        if status >= 500 or error.get("Code") in {"SlowDown", "RequestTimeout", "ServiceUnavailable"}:
            raise BlobStoreUnavailable(message) from exc
        raise BlobStoreError(message) from exc
    if isinstance(exc, BotoCoreError | OSError):
        raise BlobStoreUnavailable(f"cannot {action} blob {key}: the object store is unreachable ({exc})") from exc
