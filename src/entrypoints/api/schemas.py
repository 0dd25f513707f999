"""Request and response bodies of the HTTP API (camelCase on the wire).

Every response is the seed's envelope: ``{"success": true, "data": ...}``, lists add
``pagination``; errors are ``{"success": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from domain.agents import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, Agent, AgentStats
from domain.jobs import MAX_PRIORITY, MIN_PRIORITY, Job
from domain.pagination import Page
from domain.services.search import SearchHit
from domain.sources import Source

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]


class Camel(msgspec.Struct, rename="camel", kw_only=True):
    pass


# -- envelope ------------------------------------------------------------------------


class Ok(Camel, Generic[T], kw_only=True):
    success: bool = True
    data: T


class Pagination(Camel, kw_only=True):
    limit: int
    next_cursor: str | None
    has_more: bool


class OkPage(Camel, Generic[T], kw_only=True):
    success: bool = True
    data: list[T]
    pagination: Pagination


class ErrorBody(Camel, kw_only=True):
    code: str
    message: str
    details: Any | None = None


class Failure(Camel, kw_only=True):
    success: bool = False
    error: ErrorBody


def page_of(page: Page[Any], limit: int, convert: Any) -> OkPage[Any]:
    return OkPage(
        data=[convert(item) for item in page.items],
        pagination=Pagination(limit=limit, next_cursor=page.next_cursor, has_more=page.next_cursor is not None),
    )


# -- agents --------------------------------------------------------------------------


class AgentCreate(Camel, kw_only=True):
    name: Name
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_LENGTH)] | None = None


class AgentCounts(Camel, kw_only=True):
    sources: int
    chunks: int
    vectors: int
    jobs: dict[str, int]


class AgentOut(Camel, kw_only=True):
    id: uuid.UUID
    name: str
    description: str | None
    namespace: str
    created_at: datetime
    updated_at: datetime
    counts: AgentCounts | None = None

    @classmethod
    def of(cls, agent: Agent, stats: AgentStats | None = None) -> AgentOut:
        counts = None
        if stats is not None:
            counts = AgentCounts(
                sources=stats.sources, chunks=stats.chunks, vectors=stats.vectors, jobs=stats.jobs_by_status
            )
        return cls(
            id=agent.id,
            name=agent.name,
            description=agent.description,
            namespace=agent.namespace,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
            counts=counts,
        )


# -- sources -------------------------------------------------------------------------

ChunkSize = Annotated[int, msgspec.Meta(ge=16, le=32_000)]
ChunkOverlap = Annotated[int, msgspec.Meta(ge=0, le=16_000)]
Priority = Annotated[int, msgspec.Meta(ge=MIN_PRIORITY, le=MAX_PRIORITY)]


class ChunkingFields(Camel, kw_only=True):
    chunk_size: ChunkSize | None = None
    chunk_overlap: ChunkOverlap | None = None
    chunk_unit: Literal["tokens", "characters"] | None = None


class TextSourceFields(ChunkingFields, kw_only=True):
    """The fields of a pasted text besides the text itself."""

    name: Name | None = None
    metadata: dict[str, Any] | None = None
    priority: Priority | None = None


class TextSourceCreate(TextSourceFields, kw_only=True):
    text: Annotated[str, msgspec.Meta(min_length=1)]


class TextSourceUpload(TextSourceFields, kw_only=True):
    """``TextSourceCreate`` as read off the wire: the text stays raw JSON (a view of the
    body) so that no ``str`` of a large text is built (see ``text_body``)."""

    text: msgspec.Raw


class FileSourceFields(ChunkingFields, kw_only=True):
    """The form fields of a file upload besides ``file`` itself."""

    name: Name | None = None
    metadata: dict[str, Any] | None = None
    priority: Priority | None = None


GlobPatterns = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=300)]], msgspec.Meta(max_length=50)]


class WebsiteSourceCreate(ChunkingFields, kw_only=True):
    """A website to crawl. ``maxPages`` is capped by the server's CRAWL_MAX_PAGES_LIMIT."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    name: Name | None = None
    crawl_subpages: bool = True
    max_pages: Annotated[int, msgspec.Meta(ge=1)] = 50
    max_depth: Annotated[int, msgspec.Meta(ge=0, le=100)] = 3
    include_paths: GlobPatterns | None = None
    exclude_paths: GlobPatterns | None = None
    respect_robots: bool = True
    metadata: dict[str, Any] | None = None
    priority: Priority | None = None


class SourceOut(Camel, kw_only=True):
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    type: str
    status: str
    job_id: uuid.UUID | None
    chunk_count: int
    content_type: str | None
    size_bytes: int | None
    url: str | None
    error_message: str | None
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, source: Source) -> SourceOut:
        return cls(
            id=source.id,
            agent_id=source.agent_id,
            name=source.name,
            type=source.type.value,
            status=source.status.value,
            job_id=source.latest_job_id,
            chunk_count=source.chunk_count,
            content_type=source.content_type,
            size_bytes=source.size_bytes,
            url=source.url,
            error_message=source.error_message,
            options=source.options,
            created_at=source.created_at,
            updated_at=source.updated_at,
        )


class Deleted(Camel, kw_only=True):
    id: uuid.UUID
    deleted: bool = True


# -- jobs ----------------------------------------------------------------------------


class JobOut(Camel, kw_only=True):
    id: uuid.UUID
    data_source_id: uuid.UUID
    agent_id: uuid.UUID
    type: str
    status: str
    priority: int
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error_message: str | None
    attempts: int
    max_attempts: int
    scheduled_for: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            id=job.id,
            data_source_id=job.data_source_id,
            agent_id=job.agent_id,
            type=job.type.value,
            status=job.status.value,
            priority=job.priority,
            progress=job.progress,
            result=job.result,
            error_message=job.error_message,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            scheduled_for=job.scheduled_for,
            started_at=job.started_at,
            completed_at=job.completed_at,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


# -- search --------------------------------------------------------------------------


class SearchRequest(Camel, kw_only=True):
    query: Annotated[str, msgspec.Meta(min_length=1)]
    top_k: Annotated[int, msgspec.Meta(ge=1)] = 5
    source_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] | None = None


class SearchHitOut(Camel, kw_only=True):
    id: str
    score: float
    text: str
    source_id: str
    source_name: str | None
    chunk_index: int
    metadata: dict[str, Any]

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        return cls(
            id=hit.id,
            score=hit.score,
            text=hit.text,
            source_id=hit.source_id,
            source_name=hit.source_name,
            chunk_index=hit.chunk_index,
            metadata=hit.metadata,
        )


class Health(Camel, kw_only=True):
    status: str
    version: str
