"""The vector index port: namespaced storage of chunk vectors and similarity search.

Contract (``tests/contract/test_vector_index.py``):

* Every call names a namespace; nothing crosses namespaces (an agent's vectors live in
  its own).
* ``upsert`` of an existing id replaces the vector and metadata (re-runs never
  duplicate).
* ``query`` returns at most ``top_k`` matches, best first, ``score`` being cosine
  similarity (higher is closer), each with the metadata stored, filtered by
  ``VectorFilter`` when given.
* ``list_ids(namespace, prefix)`` yields every id starting with ``prefix``, in id
  order; ``delete_ids`` is idempotent; ``delete_source`` removes every id of one source.
* A record belongs to the source named by its metadata's ``source_id``
  (``VectorRecord.source_id``; Sluice's ids ``{source_id}#{chunk_index}`` agree with
  it): ``VectorFilter.source_ids``, ``delete_source`` and ``count(source_id=...)`` go
  by it. A record without one is rejected.
* Metadata is JSON-like (strings, numbers, booleans, lists, nested objects) and comes
  back equal; anything else is rejected.
* A namespace holds vectors of one dimension, set by the vectors it holds (an empty
  namespace takes any); querying an empty or unknown namespace returns ``[]``.
* ``count`` is exact after the write returned (read-your-writes for one caller).
* Failures: ``VectorIndexUnavailable`` (transient) or ``VectorIndexError`` (permanent:
  a vector of the wrong dimension or with non-finite values, unserialisable
  metadata, ``top_k < 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.errors import PermanentError, TransientError
from domain.vectors import VectorFilter, VectorMatch, VectorRecord


class VectorIndexError(PermanentError):
    code = "vector_index_error"


class VectorIndexUnavailable(TransientError):
    code = "vector_index_unavailable"


class VectorIndex(Protocol):
    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None: ...

    async def query(
        self,
        namespace: str,
        vector: Sequence[float],
        *,
        top_k: int,
        filter: VectorFilter | None = None,
    ) -> list[VectorMatch]: ...

    async def list_ids(self, namespace: str, prefix: str) -> list[str]: ...

    async def delete_ids(self, namespace: str, ids: Sequence[str]) -> None: ...

    async def delete_source(self, namespace: str, source_id: str) -> None: ...

    async def delete_namespace(self, namespace: str) -> None: ...

    async def count(self, namespace: str, *, source_id: str | None = None) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
