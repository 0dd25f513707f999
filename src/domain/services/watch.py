"""Watching jobs: the current state first, then every change, in order.

Events are best effort (a publisher may crash between its commit and its publish), so
a job stream also re-reads the job now and then and sends what it missed; the jobs
table stays the truth. The subscription opens before the first read, so no change
falls between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from domain.errors import NotFound
from domain.events import JobEvent, agent_channel, job_channel
from domain.jobs import ACTIVE_STATUSES
from domain.pagination import PageRequest
from domain.services.deps import Ports

_END = object()


def _stamp(event: JobEvent) -> datetime:
    return datetime.fromisoformat(event.updated_at)


class WatchService:
    def __init__(self, ports: Ports, *, resync_seconds: float = 15.0) -> None:
        self._ports = ports
        self._resync = resync_seconds

    async def job_events(
        self, job_id: uuid.UUID, *, agent_id: uuid.UUID | None = None
    ) -> AsyncIterator[JobEvent | None]:
        """The job's state, then its changes, until a terminal state. ``None`` items mean
        "nothing new for a while" (a stream can send a keep-alive)."""
        async with self._ports.notifier.subscribe([job_channel(job_id)]) as stream, _pump(stream) as inbox:
            current = JobEvent.of(await self._job(job_id, agent_id))
            yield current
            while not current.is_terminal:
                try:
                    item = await asyncio.wait_for(inbox.get(), timeout=self._resync)
                except TimeoutError:
                    fresh = JobEvent.of(await self._job(job_id, agent_id))
                    if _stamp(fresh) > _stamp(current):
                        current = fresh
                        yield current
                    else:
                        yield None
                    continue
                if item is _END:
                    return
                assert isinstance(item, JobEvent)
                if _stamp(item) < _stamp(current):
                    continue  # older than what was already sent
                current = item
                yield current

    async def agent_events(self, agent_id: uuid.UUID) -> AsyncIterator[JobEvent | None]:
        """The agent's active jobs, then every change of any of its jobs (no end)."""
        async with self._ports.notifier.subscribe([agent_channel(agent_id)]) as stream, _pump(stream) as inbox:
            async with self._ports.store.unit_of_work(read_only=True) as uow:
                if await uow.agents.get(agent_id) is None:
                    raise NotFound("agent", agent_id)
                active = []
                for status in ACTIVE_STATUSES:
                    active += (await uow.jobs.list(agent_id, PageRequest(limit=200), status=status)).items
            for job in sorted(active, key=lambda j: j.created_at):
                yield JobEvent.of(job)
            while True:
                try:
                    item = await asyncio.wait_for(inbox.get(), timeout=self._resync)
                except TimeoutError:
                    yield None
                    continue
                if item is _END:
                    return
                assert isinstance(item, JobEvent)
                yield item

    async def _job(self, job_id: uuid.UUID, agent_id: uuid.UUID | None):
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            job = await uow.jobs.get(job_id)
        if job is None or (agent_id is not None and job.agent_id != agent_id):
            raise NotFound("job", job_id)
        return job


@contextlib.asynccontextmanager
async def _pump(stream: AsyncIterator[JobEvent]) -> AsyncIterator[asyncio.Queue[object]]:
    """Move a subscription into a queue, so waiting with a timeout never cancels it."""
    inbox: asyncio.Queue[object] = asyncio.Queue()

    async def run() -> None:
        try:
            async for event in stream:
                inbox.put_nowait(event)
        finally:
            inbox.put_nowait(_END)

    task = asyncio.create_task(run())
    try:
        yield inbox
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
