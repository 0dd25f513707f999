"""Sources of an agent."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.crawling import CrawlOptions
from domain.errors import InvalidInput
from domain.pagination import PageRequest
from domain.services.deps import ServiceConfig
from domain.services.sources import SourceService
from domain.sources import ChunkingOptions, ChunkUnit
from entrypoints.api.idempotency import IdempotencyKeyHeader, claim_of, created
from entrypoints.api.schemas import (
    ChunkingFields,
    Deleted,
    FileSourceFields,
    Ok,
    OkPage,
    SourceOut,
    WebsiteSourceCreate,
    page_of,
)
from entrypoints.api.text_body import TextSourceOperation, read_text_body
from entrypoints.api.uploads import convert_fields, read_upload


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

    @post(
        "/text",
        summary="Add pasted text; returns the source with the jobId that processes it",
        # The body is read by text_body (no str of the whole text), so Litestar does not
        # see a ``data`` parameter: the operation documents the body itself.
        operation_class=TextSourceOperation,
    )
    async def create_text_source(
        self,
        agent_id: FromPath[uuid.UUID],
        request: Request,
        sources: NamedDependency[SourceService],
        service_config: NamedDependency[ServiceConfig],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Ok[SourceOut]]:
        body = await read_text_body(request, canonical=idempotency_key is not None)
        fields = body.fields
        claim = claim_of(idempotency_key, "text", body.canonical) if body.canonical is not None else None
        body.canonical = None  # as large as the text: only its fingerprint is kept
        source, _ = await sources.create_text_source(
            agent_id,
            body.data,
            name=fields.name,
            chunking=chunking_of(fields, service_config.chunking),
            metadata=fields.metadata,
            priority=fields.priority,
            idempotency=claim,
        )
        return created(Ok(data=SourceOut.of(source)), claim)

    @post(
        "/file",
        summary="Upload a file (multipart: file, name?, chunkSize?, chunkOverlap?, chunkUnit?, metadata?, priority?)",
        description="PDF, DOCX, CSV, JSON, TXT or MD, streamed to storage; its type is read from its first bytes "
        "and must match its extension. Returns the source with the jobId that processes it.",
        # The body is streamed and its size checked as it arrives (MAX_UPLOAD_MB).
        request_max_body_size=None,
    )
    async def create_file_source(
        self,
        agent_id: FromPath[uuid.UUID],
        request: Request,
        sources: NamedDependency[SourceService],
        service_config: NamedDependency[ServiceConfig],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Ok[SourceOut]]:
        stored, raw = await read_upload(request, sources, agent_id, service_config.limits.max_upload_bytes)
        try:
            fields: FileSourceFields = convert_fields(raw, FileSourceFields)
            chunking = chunking_of(fields, service_config.chunking)
            claim = claim_of(idempotency_key, "file", stored.sha256, stored.filename, fields)
        except BaseException:
            await sources.discard_file(stored)
            raise
        source, _ = await sources.create_file_source(
            stored,
            name=fields.name,
            chunking=chunking,
            metadata=fields.metadata,
            priority=fields.priority,
            idempotency=claim,
        )
        return created(Ok(data=SourceOut.of(source)), claim)

    @post("/website", summary="Crawl a website; returns the source with the jobId of the crawl_website job")
    async def create_website_source(
        self,
        agent_id: FromPath[uuid.UUID],
        data: JSONBody[WebsiteSourceCreate],
        sources: NamedDependency[SourceService],
        service_config: NamedDependency[ServiceConfig],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Ok[SourceOut]]:
        claim = claim_of(idempotency_key, "website", data)
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
            idempotency=claim,
        )
        return created(Ok(data=SourceOut.of(source)), claim)

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
