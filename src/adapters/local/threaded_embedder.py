"""What every embedder computed on this machine shares: the blocking work runs in a thread.

A subclass provides ``embed_sync`` (and ``model``, ``dimensions``, ``batch_size``); the
event loop never waits on numpy, tokenizers or PyTorch, and there is no request to fill,
so no token budget per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ports.embed import Embeddings


class ThreadedEmbedder:
    @property
    def batch_tokens(self) -> int | None:
        return None  # local and free: no request to fill

    def embed_sync(self, texts: Sequence[str]) -> Embeddings:
        raise NotImplementedError

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], tokens=0)
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> Sequence[float]:
        return (await self.embed_documents([text])).vectors[0]

    async def close(self) -> None:
        return None
