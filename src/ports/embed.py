"""The embedder port: texts in, one vector per text out.

Contract: ``embed_documents`` returns exactly one vector of ``dimensions`` floats per
input, in input order, for any number of inputs (the adapter batches within its
provider's limits); equal inputs give equal vectors; an empty list gives an empty
result. Provider trouble is ``EmbedderUnavailable`` (transient: rate limits, timeouts,
5xx; ``retried=True`` when the adapter already retried under its own policy) or
``EmbedderRejected`` (permanent: bad key, unknown model, invalid input), with a message
that names the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.errors import PermanentError, TransientError


class EmbedderUnavailable(TransientError):
    code = "embedder_unavailable"


class EmbedderRejected(PermanentError):
    code = "embedder_rejected"


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: Sequence[Sequence[float]]
    tokens: int = 0


class Embedder(Protocol):
    @property
    def model(self) -> str:
        """Identifies the vector space; vectors of two models are never mixed."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def batch_size(self) -> int:
        """How many texts a caller should hand over at once for good throughput."""
        ...

    @property
    def batch_tokens(self) -> int | None:
        """At most how many cl100k tokens a caller should hand over at once, or None.

        An embedder whose provider limits (and bills) requests by tokens says how many
        fill its requests, so a caller cutting batches there sends full requests only.
        """
        ...

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings: ...

    async def embed_query(self, text: str) -> Sequence[float]: ...

    async def close(self) -> None: ...
