"""Use cases on sources: add (with its job), read, list, re-process, delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from domain.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from domain.files import SNIFF_BYTES, FileType, detect
from domain.jobs import Job
from domain.pagination import Page, PageRequest
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import cancel_active_jobs
from domain.sources import ChunkingOptions, Source, SourceType, default_text_name, validate_metadata

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
        text: str,
        *,
        name: str | None = None,
        chunking: ChunkingOptions | None = None,
        metadata: dict[str, Any] | None = None,
        priority: int | None = None,
    ) -> tuple[Source, Job]:
        """Store the text, then create the source and its job in one transaction."""
        if not text.strip():
            raise InvalidInput("text must not be empty")
        data = text.encode("utf-8")
        limit = self._config.limits.max_text_bytes
        if len(data) > limit:
            raise LimitExceeded("max_text_bytes", f"text is {len(data)} bytes; the limit is {limit} (MAX_TEXT_MB)")
        options = self._options(chunking, metadata)
        source = Source.new(
            agent_id=agent_id,
            name=name if name is not None else default_text_name(text),
            type=SourceType.TEXT,
            now=self._ports.clock.now(),
            options=options,
        )
        source.content_type = "text/plain; charset=utf-8"
        source.size_bytes = len(data)

        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), TEXT_SLICE):
                yield data[i : i + TEXT_SLICE]

        return await self.add_source(source, body(), blob_name="content.txt", priority=priority)

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
        )

    async def create_file_source(
        self,
        stored: StoredFile,
        *,
        name: str | None = None,
        chunking: ChunkingOptions | None = None,
        metadata: dict[str, Any] | None = None,
        priority: int | None = None,
    ) -> tuple[Source, Job]:
        """The source and its ``process_file`` job for a stored upload (removed on failure)."""
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
        return await self.add_source(source, None, priority=priority)

    async def discard_file(self, stored: StoredFile) -> None:
        await self._ports.blobs.delete(stored.blob_key)

    async def add_source(
        self,
        source: Source,
        content: AsyncIterator[bytes] | None,
        *,
        blob_name: str | None = None,
        priority: int | None = None,
        max_bytes: int | None = None,
    ) -> tuple[Source, Job]:
        """Store the content (if any), commit source + pending job together, dispatch.

        The content is stored first: a crash after it leaves an orphan file at worst,
        never a job whose input is missing.
        """
        await self._require_agent(source.agent_id)
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
                await uow.commit()
        except BaseException:
            if source.blob_key:
                await self._ports.blobs.delete(source.blob_key)
            raise
        await self._ports.publish(job)
        await self._ports.dispatch(job)
        return source, job

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
