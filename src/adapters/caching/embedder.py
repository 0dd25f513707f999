"""``CachingEmbedder``: any embedder, with vectors already computed taken from a cache.

Re-processing a source (``reprocess``, a re-crawl where most pages did not change) sends
only the chunks whose text is new to the provider: an entry is keyed by the embedder's
model and dimension (``space``) and the sha256 of the text, so a changed model never
serves stale vectors. ``Embeddings.tokens`` counts only what the inner embedder
embedded, so the job's ``embedding_tokens`` is what was paid for.

The cache is an optimisation: when it fails, the texts are embedded as if it were empty
(logged), never failing the job. Queries are not cached (they rarely repeat).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np

from ports.embed import Embedder, Embeddings
from ports.embedding_cache import EmbeddingCache, EmbeddingCacheUnavailable

log = logging.getLogger("sluice.embed.cache")


def text_key(text: str) -> str:
    """The cache key of a text: the hex sha256 of its UTF-8 bytes (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CachingEmbedder:
    """An ``Embedder`` that asks ``cache`` before ``inner`` and remembers what ``inner`` made."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self._inner = inner
        self._cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def inner(self) -> Embedder:
        return self._inner

    @property
    def cache(self) -> EmbeddingCache:
        return self._cache

    @property
    def space(self) -> str:
        return f"{self._inner.model}:{self._inner.dimensions}"

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    @property
    def batch_size(self) -> int:
        return self._inner.batch_size

    @property
    def batch_tokens(self) -> int | None:
        return getattr(self._inner, "batch_tokens", None)

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], tokens=0)
        space = self.space
        unique = list(dict.fromkeys(texts))
        keys = [text_key(t) for t in unique]
        try:
            cached = await self._cache.get_many(space, keys)
        except EmbeddingCacheUnavailable:
            log.warning("embedding cache unavailable; embedding %d texts without it", len(unique), exc_info=True)
            cached = [None] * len(unique)
        found = {t: v for t, v in zip(unique, cached, strict=True) if v is not None}
        missing = [i for i, t in enumerate(unique) if t not in found]
        self.hits += len(found)
        self.misses += len(missing)
        tokens = 0
        if missing:
            fresh = await self._inner.embed_documents([unique[i] for i in missing])
            tokens = fresh.tokens
            # Rounded to float32 as the cache keeps them, so a text gets the very same
            # vector whether it was just embedded or read back later.
            rows = np.asarray(fresh.vectors, dtype=np.float32).tolist()
            for i, row in zip(missing, rows, strict=True):
                found[unique[i]] = row
            try:
                await self._cache.put_many(space, [(keys[i], row) for i, row in zip(missing, rows, strict=True)])
            except EmbeddingCacheUnavailable:
                log.warning("embedding cache unavailable; %d new vectors not kept", len(missing), exc_info=True)
        return Embeddings(vectors=[found[t] for t in texts], tokens=tokens)

    async def embed_query(self, text: str) -> Sequence[float]:
        return await self._inner.embed_query(text)

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            await self._cache.close()
