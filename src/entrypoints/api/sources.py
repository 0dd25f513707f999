"""Sources of an agent."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.crawling import CrawlOptions
from domain.errors import InvalidInput
from domain.pagination import PageRequest
from domain.services.deps import ServiceConfig
from domain.services.sources import SourceService
from domain.sources import ChunkingOptions, ChunkUnit
from entrypoints.api.schemas import (
    ChunkingFields,
    Deleted,
    Ok,
    OkPage,
    SourceOut,
    TextSourceCreate,
    WebsiteSourceCreate,
    page_of,
)


def chunking_of(fields: ChunkingFields, default: ChunkingOptions) -> ChunkingOptions | None:
    """Per-source chunking; fields left out fall back to the server's defaults."""
    if fields.chunk_size is None and fields.chunk_overlap is None and fields.chunk_unit is None:
        return None
    unit = ChunkUnit(fields.chunk_unit) if fields.chunk_unit else default.unit
    size = fields.chunk_size if fields.chunk_size is not None else default.size
    overlap = fields.chunk_overlap
    if overlap is None:
        # The default overlap may not fit a small chunk size the caller chose.
        overlap = default.overlap if default.overlap < size // 2 else size // 8
    try:
        return ChunkingOptions(size=size, overlap=overlap, unit=unit)
    except InvalidInput:
        raise
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


class SourceController(Controller):
    path = "/api/agents/{agent_id:uuid}/sources"
    tags = ["sources"]

    @post("/text", summary="Add pasted text; returns the source with the jobId that processes it")
    async def create_text_source(
        self,
        agent_id: FromPath[uuid.UUID],
        data: JSONBody[TextSourceCreate],
        sources: NamedDependency[SourceService],
        service_config: NamedDependency[ServiceConfig],
    ) -> Ok[SourceOut]:
        source, _ = await sources.create_text_source(
            agent_id,
            data.text,
            name=data.name,
            chunking=chunking_of(data, service_config.chunking),
            metadata=data.metadata,
            priority=data.priority,
        )
        return Ok(data=SourceOut.of(source))

    @post("/website", summary="Crawl a website; returns the source with the jobId of the crawl_website job")
    async def create_website_source(
        self,
        agent_id: FromPath[uuid.UUID],
        data: JSONBody[WebsiteSourceCreate],
        sources: NamedDependency[SourceService],
        service_config: NamedDependency[ServiceConfig],
    ) -> Ok[SourceOut]:
        crawl = CrawlOptions(
            max_pages=data.max_pages,
            max_depth=data.max_depth,
            crawl_subpages=data.crawl_subpages,
            include_paths=tuple(data.include_paths or ()),
            exclude_paths=tuple(data.exclude_paths or ()),
            respect_robots=data.respect_robots,
        )
        source, _ = await sources.create_website_source(
            agent_id,
            data.url,
            name=data.name,
            crawl=crawl,
            chunking=chunking_of(data, service_config.chunking),
            metadata=data.metadata,
            priority=data.priority,
        )
        return Ok(data=SourceOut.of(source))

    @get("/", summary="List an agent's sources, newest first")
    async def list_sources(
        self,
        agent_id: FromPath[uuid.UUID],
        sources: NamedDependency[SourceService],
        limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OkPage[SourceOut]:
        request = PageRequest.parse(limit, cursor)
        return page_of(await sources.list_sources(agent_id, request), request.limit, SourceOut.of)

    @get("/{source_id:uuid}", summary="A source, with its chunk count and latest jobId")
    async def get_source(
        self, agent_id: FromPath[uuid.UUID], source_id: FromPath[uuid.UUID], sources: NamedDependency[SourceService]
    ) -> Ok[SourceOut]:
        return Ok(data=SourceOut.of(await sources.get_source(agent_id, source_id)))

    @post("/{source_id:uuid}/reprocess", summary="Process the source again (new job)")
    async def reprocess_source(
        self, agent_id: FromPath[uuid.UUID], source_id: FromPath[uuid.UUID], sources: NamedDependency[SourceService]
    ) -> Ok[SourceOut]:
        source, _ = await sources.reprocess_source(agent_id, source_id)
        return Ok(data=SourceOut.of(source))

    @delete("/{source_id:uuid}", status_code=200, summary="Cancel its jobs, delete its vectors, delete it")
    async def delete_source(
        self, agent_id: FromPath[uuid.UUID], source_id: FromPath[uuid.UUID], sources: NamedDependency[SourceService]
    ) -> Ok[Deleted]:
        await sources.delete_source(agent_id, source_id)
        return Ok(data=Deleted(id=source_id))
