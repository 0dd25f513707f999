"""Use cases on sources: add (with its job), read, list, re-process, delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from domain.crawling import CrawlOptions
from domain.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from domain.files import SNIFF_BYTES, FileType, detect
from domain.idempotency import IdempotencyClaim, IdempotencyRecord
from domain.jobs import Job
from domain.pagination import Page, PageRequest
from domain.services.agents import check_name
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import cancel_active_jobs
from domain.sources import (
    ChunkingOptions,
    Source,
    SourceType,
    default_text_name,
    default_website_name,
    text_head,
    validate_metadata,
)

if TYPE_CHECKING:
    from ports.store import UnitOfWork

TEXT_SLICE = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An upload in the blob store, waiting for its source to be created."""

    agent_id: uuid.UUID
    source_id: uuid.UUID
    blob_key: str
    filename: str
    type: FileType
    size: int
    sha256: str


def blob_key(agent_id: uuid.UUID, source_id: uuid.UUID, name: str) -> str:
    return f"agents/{agent_id}/sources/{source_id}/{name}"


class SourceService:
    def __init__(self, ports: Ports, config: ServiceConfig) -> None:
        self._ports = ports
        self._config = config

    # -- create ----------------------------------------------------------------------

    async def create_text_source(
        self,
        agent_id: uuid.UUID,
        text: str | bytes,
        *,
        name: str | None = None,
        chunking: ChunkingOptions | None = None,
        metadata: dict[str, Any] | None = None,
        priority: int | None = None,
        idempotency: IdempotencyClaim | None = None,
    ) -> tuple[Source, Job]:
        """Store the text, then create the source and its job in one transaction.

        ``text`` may be given as its UTF-8 bytes (the API does, for large pastes): it is
        then never decoded whole, only its first words are (for the name)."""
        if isinstance(text, str):
            head = text
            empty = not text or text.isspace()  # not text.strip(), without its copy
            data = text.encode("utf-8")
        else:
            data = text
            head = text_head(data)
            empty = not head or head.isspace()
        if empty:
            raise InvalidInput("text must not be empty")
        limit = self._config.limits.max_text_bytes
        if len(data) > limit:
            raise LimitExceeded("max_text_bytes", f"text is {len(data)} bytes; the limit is {limit} (MAX_TEXT_MB)")
        options = self._options(chunking, metadata)
        max_name = self._config.limits.max_name_chars
        source = Source.new(
            agent_id=agent_id,
            name=name if name is not None else default_text_name(head)[:max_name],
            type=SourceType.TEXT,
            now=self._ports.clock.now(),
            options=options,
        )
        source.content_type = "text/plain; charset=utf-8"
        source.size_bytes = len(data)

        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), TEXT_SLICE):
                yield data[i : i + TEXT_SLICE]

        return await self.add_source(
            source, body(), blob_name="content.txt", priority=priority, idempotency=idempotency
        )

    async def store_file(self, agent_id: uuid.UUID, filename: str | None, content: AsyncIterator[bytes]) -> StoredFile:
        """Stream an upload to the blob store once its first bytes show a supported type
        that agrees with its name. Stops reading past ``max_upload_bytes``."""
        await self._require_agent(agent_id)
        head = bytearray()
        async for chunk in content:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
        detected = detect(filename, bytes(head[:SNIFF_BYTES]))
        limit = self._config.limits.max_upload_bytes
        if len(head) > limit:
            raise _too_large(limit)
        source_id = uuid.uuid4()
        key = blob_key(agent_id, source_id, f"upload{detected.extension}")

        async def body() -> AsyncIterator[bytes]:
            yield bytes(head)
            async for chunk in content:
                yield chunk

        try:
            info = await self._ports.blobs.put(key, body(), max_bytes=limit)
        except LimitExceeded as exc:
            raise _too_large(limit) from exc
        return StoredFile(
            agent_id=agent_id,
            source_id=source_id,
            blob_key=key,
            filename=_base_name(filename),
            type=detected.type,
            size=info.size,
            sha256=info.sha256,
        )

    async def create_file_source(
        self,
        stored: StoredFile,
        *,
        name: str | None = None,
        chunking: ChunkingOptions | None = None,
        metadata: dict[str, Any] | None = None,
        priority: int | None = None,
        idempotency: IdempotencyClaim | None = None,
    ) -> tuple[Source, Job]:
        """The source and its ``process_file`` job for a stored upload (removed on failure,
        and when an ``Idempotency-Key`` replay answers with the earlier upload's source)."""
        try:
            options = self._options(chunking, metadata)
            options["filename"] = stored.filename
            source = Source.new(
                agent_id=stored.agent_id,
                name=name or stored.filename,
                type=SourceType.FILE,
                now=self._ports.clock.now(),
                options=options,
                source_id=stored.source_id,
            )
        except BaseException:
            await self.discard_file(stored)
            raise
        source.blob_key = stored.blob_key
        source.content_type = stored.type.value
        source.size_bytes = stored.size
        result = await self.add_source(source, None, priority=priority, idempotency=idempotency)
        if idempotency is not None and idempotency.replayed:
            await self.discard_file(stored)
        return result

    async def discard_file(self, stored: StoredFile) -> None:
        await self._ports.blobs.delete(stored.blob_key)

    async def create_website_source(
        self,
        agent_id: uuid.UUID,
        url: str,
        *,
        name: str | None = None,
        crawl: CrawlOptions | None = None,
        chunking: ChunkingOptions | None = None,
        metadata: dict[str, Any] | None = None,
        priority: int | None = None,
        idempotency: IdempotencyClaim | None = None,
    ) -> tuple[Source, Job]:
        """Check the start URL (a blocked one is refused here, not in a failed job),
        then create the source and its ``crawl_website`` job."""
        crawler = self._ports.crawler
        if crawler is None:
            raise InvalidInput("website sources are not enabled on this server (no crawler configured)")
        crawl = crawl or CrawlOptions()
        limit = self._config.limits.max_crawl_pages
        if crawl.max_pages > limit:
            raise LimitExceeded(
                "max_crawl_pages", f"max_pages is {crawl.max_pages}; the limit is {limit} (CRAWL_MAX_PAGES_LIMIT)"
            )
        await self._require_agent(agent_id)
        start = await crawler.check(url)
        options = self._options(chunking, metadata)
        options["crawl"] = crawl.to_dict()
        source = Source.new(
            agent_id=agent_id,
            name=name if name is not None else default_website_name(start),
            type=SourceType.WEBSITE,
            now=self._ports.clock.now(),
            options=options,
        )
        source.url = start
        return await self.add_source(source, None, priority=priority, idempotency=idempotency)

    async def add_source(
        self,
        source: Source,
        content: AsyncIterator[bytes] | None,
        *,
        blob_name: str | None = None,
        priority: int | None = None,
        max_bytes: int | None = None,
        idempotency: IdempotencyClaim | None = None,
    ) -> tuple[Source, Job]:
        """Store the content (if any), commit source + pending job together, dispatch.

        The content is stored first: a crash after it leaves an orphan file at worst,
        never a job whose input is missing. The agent is checked in the transaction
        that creates the source (a missing one removes the stored content again), not
        in a read of its own before: one database round trip less per source.

        With ``idempotency`` (the request's ``Idempotency-Key``), a request seen before
        answers with the source and job it created (``idempotency.replayed`` becomes
        True) and creates nothing; the same key with another request is a Conflict. The
        key is recorded in the transaction that creates the source.
        """
        check_name(source.name, self._config.limits.max_name_chars)
        if idempotency is not None and (earlier := await self._replay(source.agent_id, idempotency)):
            return earlier
        if content is not None:
            source.blob_key = blob_key(source.agent_id, source.id, blob_name or "content")
            info = await self._ports.blobs.put(source.blob_key, content, max_bytes=max_bytes)
            source.size_bytes = info.size
        job = Job.new(
            source_id=source.id,
            agent_id=source.agent_id,
            type=source.type.job_type,
            now=self._ports.clock.now(),
            max_attempts=self._config.max_attempts,
            priority=priority,
        )
        source.latest_job_id = job.id
        try:
            async with self._ports.store.unit_of_work() as uow:
                if await uow.agents.get(source.agent_id) is None:
                    raise NotFound("agent", source.agent_id)
                await uow.sources.add(source)
                await uow.jobs.add(job)
                if idempotency is not None:
                    await self._record(uow, source, job, idempotency)
                await uow.commit()
        except BaseException as exc:
            if source.blob_key:
                await self._ports.blobs.delete(source.blob_key)
            # Another request with this key committed first: answer with its result.
            raced = idempotency is not None and isinstance(exc, Conflict)
            if raced and idempotency and (earlier := await self._replay(source.agent_id, idempotency)):
                return earlier
            raise
        await self._ports.publish(job)
        await self._ports.dispatch(job)
        return source, job

    async def _replay(self, agent_id: uuid.UUID, claim: IdempotencyClaim) -> tuple[Source, Job] | None:
        """The source and job an earlier request with this key created, if any."""
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            record = await uow.idempotency.get(agent_id, claim.key)
            if record is None or record.expired(self._ports.clock.now(), self._ttl):
                return None
            record.check(claim)
            source = await uow.sources.get(record.source_id)
            job = await uow.jobs.get(record.job_id)
        if source is None or job is None:
            return None
        claim.replayed = True
        return source, job

    async def _record(self, uow: UnitOfWork, source: Source, job: Job, claim: IdempotencyClaim) -> None:
        existing = await uow.idempotency.get(source.agent_id, claim.key)
        if existing is not None:
            if not existing.expired(self._ports.clock.now(), self._ttl):
                raise Conflict(
                    f"Idempotency-Key {claim.key!r} belongs to a request whose source or job is gone; use a new key",
                    code="idempotency_key_reused",
                )
            await uow.idempotency.delete(source.agent_id, claim.key)
        await uow.idempotency.add(
            IdempotencyRecord(
                agent_id=source.agent_id,
                key=claim.key,
                request_hash=claim.request_hash,
                source_id=source.id,
                job_id=job.id,
                created_at=self._ports.clock.now(),
            )
        )

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self._config.idempotency_ttl_seconds)

    def _options(self, chunking: ChunkingOptions | None, metadata: dict[str, Any] | None) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if chunking is not None:
            options["chunking"] = chunking.to_dict()
        clean = validate_metadata(metadata)
        if clean:
            options["metadata"] = clean
        return options

    # -- read ------------------------------------------------------------------------

    async def get_source(self, agent_id: uuid.UUID, source_id: uuid.UUID) -> Source:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            source = await uow.sources.get(source_id)
        if source is None or source.agent_id != agent_id:
            raise NotFound("source", source_id)
        return source

    async def list_sources(self, agent_id: uuid.UUID, page: PageRequest) -> Page[Source]:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            return await uow.sources.list(agent_id, page)

    # -- change ----------------------------------------------------------------------

    async def reprocess_source(self, agent_id: uuid.UUID, source_id: uuid.UUID) -> tuple[Source, Job]:
        """Run the source through the pipeline again (new chunking, new model...).

        New vectors overwrite the old ones id by id and the stale tail is removed only
        after, so search never sees the source disappear meanwhile.
        """
        source = await self.get_source(agent_id, source_id)
        job = Job.new(
            source_id=source.id,
            agent_id=agent_id,
            type=source.type.job_type,
            now=self._ports.clock.now(),
            max_attempts=self._config.max_attempts,
        )
        async with self._ports.store.unit_of_work() as uow:
            active = await uow.jobs.for_source(source.id, active_only=True)
            if active:
                raise Conflict(f"source {source.id} already has an active job ({active[0].id})")
            current = await uow.sources.get(source.id)
            if current is None:
                raise NotFound("source", source.id)
            current.latest_job_id = job.id
            current.follow(job.status, job.created_at)
            await uow.jobs.add(job)
            await uow.sources.save(current)
            await uow.commit()
        await self._ports.publish(job)
        await self._ports.dispatch(job)
        return current, job

    async def delete_source(self, agent_id: uuid.UUID, source_id: uuid.UUID) -> None:
        """Cancel its jobs, delete its vectors and file, then the record (jobs cascade).

        A worker still running the job notices the cancellation at its next batch and
        removes whatever it wrote after this point.
        """
        source = await self.get_source(agent_id, source_id)
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            agent = await uow.agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        await cancel_active_jobs(self._ports, source.id)
        await self._ports.vectors.delete_source(agent.namespace, str(source.id))
        if source.blob_key:
            await self._ports.blobs.delete(source.blob_key)
        async with self._ports.store.unit_of_work() as uow:
            await uow.sources.delete(source.id)
            await uow.commit()

    async def _require_agent(self, agent_id: uuid.UUID) -> None:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)


def _too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(
        "max_upload_bytes", f"the file is larger than the upload limit of {limit / (1024 * 1024):g} MB (MAX_UPLOAD_MB)"
    )


def _base_name(filename: str | None) -> str:
    """The name the user gave the file, without the folders a browser may send."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[-200:] or "upload"
