"""``PineconeVectorIndex``: the ``VectorIndex`` port on a Pinecone serverless index.

* One namespace per agent (the agent's ``namespace``); ids ``{source_id}#{chunk_index}``
  (a record whose id does not start with ``{source_id}#`` is refused: deleting and
  counting a source go by that prefix); metadata as the caller gave it (see ``codec``).
* Upserts are split into requests of at most 1,000 records and 2 MB (sizes are bounded
  from the vector's dimension and the encoded metadata), at most ``max_in_flight`` at
  once. Everything is validated before the first request, so a bad record writes
  nothing.
* Deleting a source lists its ids by the prefix ``{source_id}#`` (pages of 100) and
  deletes them in batches of at most 1,000: no metadata filter needed, so it works on
  serverless indexes.
* ``count(namespace)`` is the namespace's ``vector_count`` from ``describe_index_stats``
  (one request); ``count(namespace, source_id=...)`` lists the source's ids. Both are
  exact on the stand-in; on Pinecone itself both follow writes after a short delay
  (serverless freshness), so "exact after the write returned" holds there only once the
  index has caught up.
* The dimension belongs to the index (set when it was created), not to a namespace: a
  vector or query of another dimension is refused with ``VectorIndexError``.
* ``query`` clamps ``top_k`` to 1,000 (Pinecone's maximum with metadata); a zero query
  vector scores 0 against everything (cosine), answered without asking Pinecone.
* 429, 5xx, timeouts and connection errors are retried by the SDK (3 retries with
  decorrelated jitter, honouring ``Retry-After``); what still fails is
  ``VectorIndexUnavailable`` and the job is retried later. A bad key, an unknown index
  or a refused request is ``VectorIndexError`` naming the cause.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from adapters.pinecone.codec import decode_id, decode_metadata, encode_id, encode_metadata
from domain.vectors import VectorFilter, VectorMatch, VectorRecord, source_prefix
from ports.vectors import VectorIndexError, VectorIndexUnavailable

T = TypeVar("T")
log = logging.getLogger("sluice.vectors.pinecone")

MAX_UPSERT_RECORDS = 1000
MAX_UPSERT_BYTES = 2 * 1024 * 1024 - 16 * 1024  # 2 MB, less room for the request envelope
MAX_DELETE_IDS = 1000
LIST_PAGE = 100
MAX_TOP_K = 1000
MAX_FILTER_VALUES = 10_000
# A float in JSON is at most 24 characters ("-1.2345678901234567e-308"), plus its comma.
_BYTES_PER_VALUE = 25


class PineconeVectorIndex:
    """A ``VectorIndex`` on one Pinecone index, given by ``index_name`` or ``host``."""

    def __init__(
        self,
        *,
        api_key: str,
        index_name: str | None = None,
        host: str | None = None,
        controller_host: str | None = None,
        timeout_seconds: float = 30.0,
        max_in_flight: int = 4,
    ) -> None:
        if not (index_name or host):
            raise ValueError("set PINECONE_INDEX or PINECONE_HOST")
        self._api_key = api_key
        self._index_name = index_name or ""
        self._host = host or ""
        self._controller_host = controller_host
        self._timeout = timeout_seconds
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._client: Any = None
        self._index: Any = None
        self._opening = asyncio.Lock()
        self._dimension: int | None = None
        self._closed = False

    # -- writing ------------------------------------------------------------------------

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        self._check_open()
        if not records:
            return
        ns = encode_id(namespace, what="namespace")
        dimension = await self._index_dimension()
        rows = [self._row(record, dimension) for record in records]
        dims = {len(row["values"]) for row in rows}
        if len(dims) > 1:
            raise VectorIndexError(f"a batch mixes vectors of {sorted(dims)} dimensions")
        # The last of repeated ids wins, as in one request to Pinecone.
        unique = list({row["id"]: row for row in rows}.values())
        batches = _batches(unique)
        index = await self._open()
        await self._gather([self._call(index.upsert, vectors=batch, namespace=ns) for batch in batches])
        if self._dimension is None:
            self._dimension = dims.pop()

    async def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        self._check_open()
        encoded = list(dict.fromkeys(encode_id(i) for i in ids))
        if not encoded:
            return
        index = await self._open()
        ns = encode_id(namespace, what="namespace")
        calls = [
            self._call(index.delete, ids=encoded[start : start + MAX_DELETE_IDS], namespace=ns)
            for start in range(0, len(encoded), MAX_DELETE_IDS)
        ]
        await self._gather(calls)

    async def delete_source(self, namespace: str, source_id: str) -> None:
        # Listed in full first: deleting while paging could move the pages under us.
        await self.delete_ids(namespace, await self.list_ids(namespace, source_prefix(source_id)))

    async def delete_namespace(self, namespace: str) -> None:
        self._check_open()
        from pinecone.errors import NotFoundError

        index = await self._open()
        try:
            await self._call(index.delete_namespace, name=encode_id(namespace, what="namespace"), missing=NotFoundError)
        except _Missing:
            return

    # -- reading ------------------------------------------------------------------------

    async def query(
        self,
        namespace: str,
        vector: Sequence[float],
        *,
        top_k: int,
        filter: VectorFilter | None = None,
    ) -> list[VectorMatch]:
        self._check_open()
        if top_k < 1:
            raise VectorIndexError(f"top_k must be at least 1, got {top_k}")
        values = _finite(vector, what="query vector")
        dimension = await self._index_dimension()
        if dimension is not None and len(values) != dimension:
            raise VectorIndexError(
                f"the Pinecone index holds {dimension}-dimensional vectors, got a {len(values)}-dimensional query "
                "(was the embedding model changed?)"
            )
        flt = None
        if filter is not None and filter.source_ids is not None:
            if not filter.source_ids:
                return []
            if len(filter.source_ids) > MAX_FILTER_VALUES:
                raise VectorIndexError(f"a search can name at most {MAX_FILTER_VALUES} sources")
            flt = {"source_id": {"$in": sorted(filter.source_ids)}}
        zero = not any(values)
        if zero:  # cosine with a zero vector is 0 for every record: any top_k will do
            values = [1.0] + [0.0] * (len(values) - 1)
        index = await self._open()
        response = await self._call(
            index.query,
            vector=values,
            top_k=min(top_k, MAX_TOP_K),
            namespace=encode_id(namespace, what="namespace"),
            filter=flt,
            include_metadata=True,
        )
        return [
            VectorMatch(
                id=decode_id(match.id),
                score=0.0 if zero else max(-1.0, min(1.0, float(match.score))),
                metadata=decode_metadata(match.metadata),
            )
            for match in response.matches
        ]

    async def list_ids(self, namespace: str, prefix: str) -> list[str]:
        self._check_open()
        index = await self._open()
        ns = encode_id(namespace, what="namespace")
        encoded_prefix = encode_id(prefix, what="prefix") if prefix else None
        ids: list[str] = []
        token: str | None = None
        while True:
            page = await self._call(
                index.list_paginated, prefix=encoded_prefix, limit=LIST_PAGE, pagination_token=token, namespace=ns
            )
            ids.extend(decode_id(item.id) for item in page.vectors if item.id)
            token = page.pagination.next if page.pagination else None
            if not token:
                return sorted(ids)

    async def count(self, namespace: str, *, source_id: str | None = None) -> int:
        self._check_open()
        if source_id is not None:
            return len(await self.list_ids(namespace, source_prefix(source_id)))
        stats = await self._stats()
        summary = stats.namespaces.get(encode_id(namespace, what="namespace"))
        return 0 if summary is None else int(summary.vector_count)

    async def ping(self) -> None:
        self._check_open()
        await self._stats()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for client in (self._index, self._client):
            if client is not None:
                try:
                    await client.close()
                except Exception:
                    log.debug("closing a Pinecone client failed", exc_info=True)

    # -- plumbing -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise VectorIndexError("the vector index is closed")

    async def _open(self) -> Any:
        if self._index is not None:
            return self._index
        async with self._opening:
            if self._index is None:
                from pinecone import AsyncPinecone

                self._client = AsyncPinecone(api_key=self._api_key, host=self._controller_host, timeout=self._timeout)
                self._index = await self._call(self._client.index, name=self._index_name, host=self._host)
        return self._index

    async def _stats(self) -> Any:
        index = await self._open()
        return await self._call(index.describe_index_stats)

    async def _index_dimension(self) -> int | None:
        if self._dimension is None:
            self._dimension = (await self._stats()).dimension or None
        return self._dimension

    def _row(self, record: VectorRecord, dimension: int | None) -> dict[str, Any]:
        source = record.metadata.get("source_id")
        if source is None:
            raise VectorIndexError(f"vector {record.id!r} has no source_id in its metadata")
        if not record.id.startswith(source_prefix(str(source))):
            raise VectorIndexError(
                f"vector id {record.id!r} does not start with {source_prefix(str(source))!r}: "
                "the Pinecone index finds a source's vectors by that prefix"
            )
        values = _finite(record.values, what=f"vector {record.id!r}")
        if dimension is not None and len(values) != dimension:
            raise VectorIndexError(
                f"the Pinecone index holds {dimension}-dimensional vectors, got {len(values)} dimensions "
                f"for {record.id!r} (was the embedding model changed?)"
            )
        if not any(values):
            raise VectorIndexError(f"vector {record.id!r} is all zeros, which Pinecone cannot store (cosine metric)")
        return {"id": encode_id(record.id), "values": values, "metadata": encode_metadata(record.id, record.metadata)}

    async def _gather(self, calls: Sequence[Awaitable[Any]]) -> None:
        async def bounded(call: Awaitable[Any]) -> None:
            async with self._in_flight:
                await call

        await asyncio.gather(*(bounded(c) for c in calls))

    async def _call(self, method: Callable[..., Awaitable[T]], *, missing: type | None = None, **kwargs: Any) -> T:
        """Call the SDK, translating its errors into the port's."""
        from pinecone import errors

        try:
            return await method(**kwargs)
        except errors.PineconeError as exc:
            if missing is not None and isinstance(exc, missing):
                raise _Missing from exc
            raise self._translate(exc, errors) from exc

    def _translate(self, exc: Exception, errors: Any) -> Exception:
        where = self._index_name or self._host
        if isinstance(exc, errors.UnauthorizedError | errors.ForbiddenError):
            return VectorIndexError(f"Pinecone refused the API key ({exc.status_code}): check PINECONE_API_KEY. {exc}")
        if isinstance(exc, errors.NotFoundError):
            return VectorIndexError(f"Pinecone index {where!r} not found: check PINECONE_INDEX / PINECONE_HOST. {exc}")
        # The SDK already retried these (3 times, backoff, Retry-After): not again at once.
        if isinstance(exc, errors.RateLimitError | errors.ServiceError):
            return VectorIndexUnavailable(
                f"Pinecone is unavailable ({exc.status_code}, after retries): {exc}", retried=True
            )
        if isinstance(exc, errors.PineconeTimeoutError | errors.PineconeConnectionError):
            return VectorIndexUnavailable(f"Pinecone cannot be reached: {exc}", retried=True)
        if isinstance(exc, errors.ResponseParsingError):
            return VectorIndexUnavailable(f"Pinecone answered something unexpected: {exc}")
        if isinstance(exc, errors.ApiError) and exc.status_code in (408, 409):
            return VectorIndexUnavailable(f"Pinecone is busy ({exc.status_code}): {exc}")
        return VectorIndexError(f"Pinecone refused the request: {exc}")


class _Missing(Exception):
    """Internal: the SDK said the thing is not there (which a delete may accept)."""


def _finite(values: Sequence[float], *, what: str) -> list[float]:
    try:
        floats = [float(x) for x in values]
    except (TypeError, ValueError) as exc:
        raise VectorIndexError(f"every {what} must be a list of numbers: {exc}") from exc
    if not floats:
        raise VectorIndexError(f"{what} is empty")
    if not all(math.isfinite(x) and abs(x) <= 3.4028234663852886e38 for x in floats):
        raise VectorIndexError(f"{what} holds a NaN or infinite value (or one too large for float32)")
    return floats


def _record_bytes(row: dict[str, Any]) -> int:
    import json

    metadata = json.dumps(row["metadata"], ensure_ascii=False, separators=(",", ":"))
    return len(row["id"]) + _BYTES_PER_VALUE * len(row["values"]) + len(metadata.encode("utf-8", "surrogatepass")) + 64


def _batches(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows in requests of at most 1,000 records and about 2 MB (sizes are upper bounds)."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for row in rows:
        size = _record_bytes(row)
        if current and (len(current) == MAX_UPSERT_RECORDS or used + size > MAX_UPSERT_BYTES):
            batches.append(current)
            current, used = [], 0
        current.append(row)
        used += size
    if current:
        batches.append(current)
    return batches
