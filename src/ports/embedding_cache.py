"""The embedding cache port: vectors already computed, by model and text digest.

Contract (``tests/contract/test_embedding_cache.py``):

* Entries are addressed by a ``space`` (the model and its dimension: vectors of two
  models never mix) and a ``key`` (the hex sha256 of the text). ``get_many`` answers
  one vector or ``None`` per key, in order; ``put_many`` stores (and replaces) entries.
* Vectors come back as float32 (what the embedding APIs send), so equal to what was put
  within float32 precision, and exactly equal for float32 values.
* The cache is bounded (``max_entries``): past it, the least recently used entries
  (read or written) go first. A cache is an optimisation: anything may be evicted.
* Failures: ``EmbeddingCacheUnavailable`` (transient). A caller may treat it as a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.errors import TransientError


class EmbeddingCacheUnavailable(TransientError):
    code = "embedding_cache_unavailable"


class EmbeddingCache(Protocol):
    @property
    def max_entries(self) -> int: ...

    async def get_many(self, space: str, keys: Sequence[str]) -> list[list[float] | None]: ...

    async def put_many(self, space: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None: ...

    async def close(self) -> None: ...
