"""Use cases on jobs: read, list, retry, cancel."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

from domain.errors import Conflict, IllegalTransition, NotFound, StaleJob
from domain.jobs import ACTIVE_STATUSES, Job, JobStatus
from domain.pagination import Page, PageRequest
from domain.services.deps import Ports
from domain.services.outbox import record_outcome

# A job is only changed by a few parties (API, its worker, the reconciler); a handful of
# compare-and-set rounds always settles, more means something is wrong.
MAX_CAS_ROUNDS = 20


async def update_job(
    ports: Ports,
    job_id: uuid.UUID,
    change: Callable[[Job], None],
    *,
    agent_id: uuid.UUID | None = None,
    make_latest: bool = False,
) -> Job:
    """Load, change and save one job, retrying when another process saved it first.

    The source follows the job's state when this job is the source's latest (or is
    made so). ``change`` raises (IllegalTransition...) to refuse; nothing is written then.
    """
    for _ in range(MAX_CAS_ROUNDS):
        async with ports.store.unit_of_work() as uow:
            job = await uow.jobs.get(job_id)
            if job is None or (agent_id is not None and job.agent_id != agent_id):
                raise NotFound("job", job_id)
            previous = job.status
            change(job)
            try:
                await uow.jobs.save(job)
            except StaleJob:
                continue
            await record_outcome(uow, job, previous)
            source = await uow.sources.get(job.data_source_id)
            if source is not None and make_latest:
                source.latest_job_id = job.id
            if source is not None and source.latest_job_id == job.id:
                source.follow(job.status, job.updated_at, error=job.error_message)
                await uow.sources.save(source)
            await uow.commit()
        await ports.publish(job)
        return job
    raise Conflict(f"job {job_id} is changing too fast to update; try again")


async def cancel_active_jobs(ports: Ports, source_id: uuid.UUID) -> list[Job]:
    """Cancel every pending or processing job of a source (before deleting it)."""
    async with ports.store.unit_of_work(read_only=True) as uow:
        active = await uow.jobs.for_source(source_id, active_only=True)
    cancelled = []
    for job in active:
        now = ports.clock.now()

        def cancel(j: Job, now=now) -> None:
            if j.status in ACTIVE_STATUSES:
                j.cancel(now)

        try:
            cancelled.append(await update_job(ports, job.id, cancel))
        except NotFound:
            continue
    return cancelled


async def clean_up_cancelled(ports: Ports, job: Job, *, holder: str | None = None, remove: bool = True) -> None:
    """Remove the partial output of a job cancelled while running, then release its lease.

    The source's vectors go (unless ``remove`` is False: its worker knows it wrote none),
    and its chunk count drops to 0, so a source never counts vectors it does not have.
    Only while the job is still the source's latest: a newer job owns the vectors now.
    ``holder`` restricts the release to the worker that held the lease.
    """
    async with ports.store.unit_of_work(read_only=True) as uow:
        source = await uow.sources.get(job.data_source_id)
        agent = await uow.agents.get(job.agent_id)
    if remove and source is not None and agent is not None and source.latest_job_id == job.id:
        await ports.vectors.delete_source(agent.namespace, str(source.id))
        async with ports.store.unit_of_work() as uow:
            current = await uow.sources.get(source.id)
            if current is not None and current.latest_job_id == job.id and current.chunk_count:
                current.chunk_count = 0
                await uow.sources.save(current)
                await uow.commit()
    now = ports.clock.now()

    def release(j: Job) -> None:
        if holder is not None and j.locked_by != holder:
            raise IllegalTransition(j.status.value, j.status.value, reason="held by another worker")
        j.release_cleanup(now)

    with contextlib.suppress(NotFound, IllegalTransition):
        await update_job(ports, job.id, release)


class JobService:
    def __init__(self, ports: Ports) -> None:
        self._ports = ports

    async def get_job(self, job_id: uuid.UUID, *, agent_id: uuid.UUID | None = None) -> Job:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            job = await uow.jobs.get(job_id)
        if job is None or (agent_id is not None and job.agent_id != agent_id):
            raise NotFound("job", job_id)
        return job

    async def list_jobs(
        self,
        agent_id: uuid.UUID,
        page: PageRequest,
        *,
        source_id: uuid.UUID | None = None,
        status: JobStatus | None = None,
    ) -> Page[Job]:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            if source_id is not None:
                source = await uow.sources.get(source_id)
                if source is None or source.agent_id != agent_id:
                    raise NotFound("source", source_id)
            return await uow.jobs.list(agent_id, page, source_id=source_id, status=status)

    async def retry_job(self, job_id: uuid.UUID, *, agent_id: uuid.UUID | None = None) -> Job:
        """Re-run a failed or cancelled job with a fresh attempt budget."""
        job = await self.get_job(job_id, agent_id=agent_id)
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            others = [j for j in await uow.jobs.for_source(job.data_source_id, active_only=True) if j.id != job.id]
        if others:
            raise Conflict(f"source {job.data_source_id} already has an active job ({others[0].id})")
        now = self._ports.clock.now()
        job = await update_job(self._ports, job_id, lambda j: j.retry(now), agent_id=agent_id, make_latest=True)
        await self._ports.dispatch(job)
        return job

    async def cancel_job(self, job_id: uuid.UUID, *, agent_id: uuid.UUID | None = None) -> Job:
        """Cancel a pending job, or ask a running one to stop at its next batch."""
        now = self._ports.clock.now()
        return await update_job(self._ports, job_id, lambda j: j.cancel(now), agent_id=agent_id)
