"""An in-process embedding cache: a bounded LRU dict of float32 vectors."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ports.embedding_cache import EmbeddingCacheUnavailable


class MemoryEmbeddingCache:
    """An ``EmbeddingCache`` in this process's memory, lost on exit."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._closed = False

    @property
    def max_entries(self) -> int:
        return self._max

    async def get_many(self, space: str, keys: Sequence[str]) -> list[list[float] | None]:
        self._check_open()
        found: list[list[float] | None] = []
        for key in keys:
            blob = self._entries.get((space, key))
            if blob is None:
                found.append(None)
                continue
            self._entries.move_to_end((space, key))
            found.append(np.frombuffer(blob, dtype="<f4").tolist())
        return found

    async def put_many(self, space: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        self._check_open()
        for key, vector in entries:
            self._entries[(space, key)] = np.asarray(vector, dtype="<f4").tobytes()
            self._entries.move_to_end((space, key))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        self._closed = True
        self._entries.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise EmbeddingCacheUnavailable("the embedding cache is closed")
