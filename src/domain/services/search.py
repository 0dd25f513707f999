"""Searching an agent's chunks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput, LimitExceeded, NotFound
from domain.services.deps import Ports, ServiceConfig
from domain.vectors import VectorFilter

DEFAULT_TOP_K = 5


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    score: float
    text: str
    source_id: str
    source_name: str | None
    chunk_index: int
    metadata: dict[str, Any]


class SearchService:
    def __init__(self, ports: Ports, config: ServiceConfig) -> None:
        self._ports = ports
        self._config = config

    async def search(
        self,
        agent_id: uuid.UUID,
        query: str,
        *,
        top_k: int = DEFAULT_TOP_K,
        source_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[SearchHit]:
        """The ``top_k`` chunks of the agent closest to ``query``, best first.

        Always within the agent's own namespace; ``source_ids`` can only narrow it.
        """
        limits = self._config.limits
        if not query.strip():
            raise InvalidInput("query must not be empty")
        if len(query) > limits.max_query_chars:
            raise LimitExceeded("max_query_chars", f"query is longer than {limits.max_query_chars} characters")
        if not 1 <= top_k <= limits.max_top_k:
            raise LimitExceeded("max_top_k", f"topK must be between 1 and {limits.max_top_k}")
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            agent = await uow.agents.get(agent_id)
            if agent is None:
                raise NotFound("agent", agent_id)
        flt = VectorFilter(source_ids=frozenset(str(s) for s in source_ids)) if source_ids else None
        vector = await self._ports.embedder.embed_query(query)
        matches = await self._ports.vectors.query(agent.namespace, vector, top_k=top_k, filter=flt)
        names = await self._source_names(agent_id, {str(m.metadata.get("source_id")) for m in matches})
        orphans = {str(m.metadata.get("source_id")) for m in matches} - names.keys()
        if orphans:
            # Vectors of a deleted source (its worker wrote a last batch and died before
            # it noticed): never shown, and removed now.
            for orphan in orphans:
                with contextlib.suppress(Exception):
                    await self._ports.vectors.delete_source(agent.namespace, orphan)
            matches = await self._ports.vectors.query(agent.namespace, vector, top_k=top_k, filter=flt)
            matches = [m for m in matches if str(m.metadata.get("source_id")) in names]
        hits = []
        for match in matches:
            meta = dict(match.metadata)
            source_id = str(meta.pop("source_id", ""))
            hits.append(
                SearchHit(
                    id=match.id,
                    score=float(match.score),
                    text=str(meta.pop("text", "")),
                    source_id=source_id,
                    source_name=names.get(source_id),
                    chunk_index=int(meta.pop("chunk_index", 0)),
                    metadata=meta,
                )
            )
        return hits

    async def _source_names(self, agent_id: uuid.UUID, ids: set[str]) -> dict[str, str]:
        """Names of the agent's own sources among ``ids`` (anything else is never shown)."""
        names: dict[str, str] = {}
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            for ident in ids:
                try:
                    source = await uow.sources.get(uuid.UUID(ident))
                except ValueError:
                    continue
                if source is not None and source.agent_id == agent_id:
                    names[ident] = source.name
        return names
