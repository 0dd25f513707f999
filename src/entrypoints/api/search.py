"""Search an agent's knowledge."""

from __future__ import annotations

import uuid

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from domain.services.search import SearchService
from entrypoints.api.schemas import Ok, SearchHitOut, SearchRequest


class SearchController(Controller):
    path = "/api/agents/{agent_id:uuid}/search"
    tags = ["search"]

    @post("/", status_code=200, summary="The topK chunks closest to a query, best first")
    async def search(
        self, agent_id: FromPath[uuid.UUID], data: JSONBody[SearchRequest], search: NamedDependency[SearchService]
    ) -> Ok[list[SearchHitOut]]:
        hits = await search.search(agent_id, data.query, top_k=data.top_k, source_ids=data.source_ids)
        return Ok(data=[SearchHitOut.of(hit) for hit in hits])
