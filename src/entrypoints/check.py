"""``sluice check``: is this deployment healthy? One pass/fail line per check.

The successor of the seed's test script: every backing service reachable, a job
created, run and read back end to end, and the queue's health. Exit code 1 on any
failure, so it can gate a deployment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.jobs import JobStatus
from domain.vectors import VectorRecord
from entrypoints.container import Container
from entrypoints.runtime import Worker

PROBE_NAMESPACE = "sluice-check"


class CheckFailed(Exception):
    """A check's own verdict (printed as is)."""


@dataclass
class Line:
    name: str
    ok: bool
    detail: str


class Checker:
    def __init__(self, container: Container, *, timeout: float = 60.0) -> None:
        self._c = container
        self._timeout = timeout
        self.lines: list[Line] = []

    async def _run(self, name: str, probe: Callable[[], Awaitable[str]], *, limit: float | None = None) -> bool:
        started = time.monotonic()
        limit = limit or self._timeout
        try:
            detail = await asyncio.wait_for(probe(), timeout=limit)
            ok = True
        except CheckFailed as exc:
            detail, ok = str(exc), False
        except TimeoutError:
            detail, ok = f"no answer within {limit:g} s", False
        except Exception as exc:
            detail, ok = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}", False
        self.lines.append(Line(name, ok, f"{detail} ({time.monotonic() - started:.2f}s)"))
        return ok

    async def run(self) -> bool:
        settings = self._c.settings()
        distributed = bool(settings.redis.url)
        await self._run("database", self._database)
        await self._run("queue", self._queue)
        await self._run("blob store", self._blobs)
        await self._run("embedder", self._embedder)
        await self._run("vector index", self._vectors)
        if all(line.ok for line in self.lines):
            # Its own deadline inside; the outer one only guards against a hang.
            await self._run(
                "end-to-end job", lambda: self._end_to_end(run_here=not distributed), limit=2 * self._timeout + 10
            )
        await self._run("queue health", self._queue_health)
        return all(line.ok for line in self.lines)

    async def _database(self) -> str:
        from adapters.sqlalchemy.migrations import current_revision, head_revision

        settings = self._c.settings()
        await self._c.store().ping()
        current = await current_revision(settings.store_url)
        head = head_revision()
        if current != head:
            raise CheckFailed(f"schema at {current or 'nothing'}, code expects {head}: run `sluice migrate`")
        kind = "SQLite" if settings.is_embedded_store else "PostgreSQL"
        return f"{kind} reachable, schema at {head}"

    async def _queue(self) -> str:
        queue = self._c.queue()
        await queue.ping()
        return "Redis (SAQ) reachable" if self._c.settings().redis.url else "in-process queue"

    async def _blobs(self) -> str:
        blobs = self._c.blobs()
        key = f"check/{uuid.uuid4().hex}.txt"

        async def body():
            yield b"sluice check"

        info = await blobs.put(key, body())
        data = b"".join([chunk async for chunk in blobs.open(key)])
        await blobs.delete(key)
        if data != b"sluice check":
            raise CheckFailed("read back different bytes than written")
        return f"write, read and delete of {info.size} bytes"

    async def _embedder(self) -> str:
        embedder = self._c.embedder()
        vector = await embedder.embed_query("sluice check")
        if len(vector) != embedder.dimensions:
            raise CheckFailed(f"{len(vector)} dimensions, expected {embedder.dimensions}")
        return f"{embedder.model}, {embedder.dimensions} dimensions"

    async def _vectors(self) -> str:
        vectors, embedder = self._c.vectors(), self._c.embedder()
        await vectors.ping()
        probe_id = f"{uuid.uuid4()}#0"
        values = await embedder.embed_query("sluice check probe")
        meta = {"source_id": probe_id.split("#")[0], "text": "probe"}
        await vectors.upsert(PROBE_NAMESPACE, [VectorRecord(id=probe_id, values=values, metadata=meta)])
        try:
            hits = await vectors.query(PROBE_NAMESPACE, values, top_k=1)
            if not hits or hits[0].id != probe_id:
                raise CheckFailed("a vector just written was not found")
        finally:
            await vectors.delete_namespace(PROBE_NAMESPACE)
        return "write, query and delete"

    async def _end_to_end(self, *, run_here: bool) -> str:
        agents, sources, jobs = self._c.agents(), self._c.sources(), self._c.jobs()
        worker = Worker(self._c, concurrency=1, grace_seconds=0.0) if run_here else None
        agent = await agents.create_agent(f"sluice check {datetime.now(UTC):%Y-%m-%d %H:%M:%S}")
        try:
            if worker is not None:
                await worker.start()
            _, job = await sources.create_text_source(agent.id, "Sluice check: a lighthouse keeper's logbook.")
            deadline = time.monotonic() + self._timeout
            while (job := await jobs.get_job(job.id)).status in {JobStatus.PENDING, JobStatus.PROCESSING}:
                if time.monotonic() > deadline:
                    raise CheckFailed(f"the job stayed {job.status} (are workers running?)")
                await asyncio.sleep(0.2)
            if job.status is not JobStatus.COMPLETED:
                raise CheckFailed(f"the job ended {job.status}: {job.error_message}")
            hits = await self._c.search().search(agent.id, "lighthouse keeper logbook", top_k=1)
            if not hits:
                raise CheckFailed("the job completed but search finds nothing")
            return f"created, run ({job.result.get('duration_seconds')}s) and found by search" if job.result else "ok"
        finally:
            if worker is not None:
                await worker.stop()
            await agents.delete_agent(agent.id)

    async def _queue_health(self) -> str:
        async with self._c.store().unit_of_work(read_only=True) as uow:
            depth = await uow.jobs.queue_depth()
            census = await uow.jobs.census()
        oldest = census.oldest_pending_run_at
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
        workers = await self._c.queue().live_workers()
        per_priority = ", ".join(f"p{p}={n}" for p, n in sorted(depth.items(), reverse=True)) or "empty"
        live = "integrated (this process)" if workers is None else f"{workers} live worker(s)"
        if workers == 0 and depth:
            raise CheckFailed(f"{sum(depth.values())} pending job(s) and no live worker")
        return f"pending: {per_priority}; oldest pending {age:.0f}s; {live}"
