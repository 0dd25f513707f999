"""The store in memory: real transactions over three dicts, for fast tests and demos.

It keeps the same contract as the SQL store (``tests/contract/test_store.py`` runs on
both), so a test that passes here means what it would mean against a database:

* A unit of work stages its writes: it reads its own changes, others see them only
  after ``commit()``, and leaving the block without committing discards them.
* Commit replays the staged writes on a copy of the committed tables and swaps it in
  only if every write still holds, so a commit is all or nothing. The checks are those
  a database makes: duplicate keys, foreign keys, and the compare-and-set of
  ``jobs.save`` (checked at save, and again at commit against what others committed
  meanwhile). Deletes cascade as ON DELETE CASCADE does.
* ``jobs.save`` locks the job until the unit of work ends, as PostgreSQL's UPDATE
  locks the row: a second save of the same job from another unit of work waits for
  the first to finish, then finds the version moved and raises ``StaleJob`` there, at
  the save, exactly where the SQL store raises it.
* Everything stored or returned is a deep copy: callers never share mutable state
  (progress and result dicts may nest).

Webhooks and their deliveries have their repositories in ``webhook_store.py``; their
rows live in the same tables and commit with the rest.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import dataclasses
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from domain.access import ApiKey
from domain.agents import Agent
from domain.idempotency import IdempotencyRecord
from domain.jobs import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobCensus, JobStatus, JobType
from domain.pagination import Cursor, Page, PageRequest
from domain.sources import Source
from domain.webhooks import Webhook, WebhookDelivery
from ports.store import (
    AgentRepository,
    ApiKeyRepository,
    DeliveryRepository,
    DueJob,
    DuplicateKey,
    IdempotencyRepository,
    JobRepository,
    SourceRepository,
    StaleJob,
    StoreError,
    StoreUnavailable,
    WebhookRepository,
)

Row = TypeVar("Row", Agent, Source, Job, Webhook, WebhookDelivery, ApiKey, IdempotencyRecord)
Key = TypeVar("Key", bound=Hashable)
# Rows with an id of their own, listed newest first.
Listed = TypeVar("Listed", Agent, Source, Job, WebhookDelivery)


@dataclass(slots=True)
class _Tables:
    """Committed rows by id. Rows are never mutated in place, only replaced."""

    agents: dict[uuid.UUID, Agent] = field(default_factory=dict)
    sources: dict[uuid.UUID, Source] = field(default_factory=dict)
    jobs: dict[uuid.UUID, Job] = field(default_factory=dict)
    # Keyed by agent id: one webhook per agent.
    webhooks: dict[uuid.UUID, Webhook] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, WebhookDelivery] = field(default_factory=dict)
    # Keyed by key id, and by (agent id, key): see ``access_store.py``.
    api_keys: dict[uuid.UUID, ApiKey] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str], IdempotencyRecord] = field(default_factory=dict)

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.agents),
            dict(self.sources),
            dict(self.jobs),
            dict(self.webhooks),
            dict(self.deliveries),
            dict(self.api_keys),
            dict(self.idempotency),
        )


# A staged write, replayed on the tables at commit; raises when it no longer holds.
_Write = Callable[[_Tables], None]


class MemoryStore:
    """A ``Store`` held in this process's memory; lost when the process ends."""

    def __init__(self, *, lock_timeout_seconds: float = 10.0) -> None:
        self._tables = _Tables()
        # Units of work normally share one event loop, but a commit must stay atomic
        # even if a store is touched from several threads.
        self._lock = threading.Lock()
        # Rows saved by a unit of work that has not ended yet: job id (or another row's
        # key) -> (holder, released).
        self._job_locks: dict[Hashable, tuple[MemoryUnitOfWork, asyncio.Event]] = {}
        self._lock_timeout = lock_timeout_seconds

    def unit_of_work(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self, read_only=read_only)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def committed(self) -> _Tables:
        return self._tables

    def apply(self, writes: list[_Write]) -> None:
        with self._lock:
            tables = self._tables.copy()
            for write in writes:
                write(tables)
            self._tables = tables

    async def lock_job(self, job_id: Hashable, holder: MemoryUnitOfWork) -> bool:
        """Take the job's lock for ``holder``; False when it already held it."""
        while (lock := self._job_locks.get(job_id)) is not None:
            owner, released = lock
            if owner is holder:
                return False
            try:
                await asyncio.wait_for(released.wait(), self._lock_timeout)
            except TimeoutError:
                # PostgreSQL would wait forever; SQLite gives up after busy_timeout.
                raise StoreUnavailable(
                    f"job {job_id} stayed locked by another unit of work for {self._lock_timeout:g}s"
                ) from None
        self._job_locks[job_id] = (holder, asyncio.Event())
        return True

    def try_lock(self, key: Hashable, holder: MemoryUnitOfWork) -> bool:
        """Take the lock without waiting (SKIP LOCKED): False when another holds it."""
        lock = self._job_locks.get(key)
        if lock is not None:
            return lock[0] is holder
        self._job_locks[key] = (holder, asyncio.Event())
        return True

    def unlock_jobs(self, job_ids: Iterable[Hashable]) -> None:
        for job_id in job_ids:
            _, released = self._job_locks.pop(job_id)
            released.set()


class MemoryUnitOfWork:
    """Staged changes over the store's committed tables; see the module docstring."""

    def __init__(self, store: MemoryStore, *, read_only: bool = False) -> None:
        self._store = store
        self._read_only = read_only
        self._open = False
        self._staged = _Staged()
        self._writes: list[_Write] = []
        self._locked: list[Hashable] = []
        # Typed as the port's protocols: UnitOfWork declares these attributes so.
        self.agents: AgentRepository = MemoryAgentRepository(self)
        self.sources: SourceRepository = MemorySourceRepository(self)
        self.jobs: JobRepository = MemoryJobRepository(self)
        # Imported here: that module builds on this one's helpers.
        from adapters.memory.webhook_store import MemoryDeliveryRepository, MemoryWebhookRepository

        self.webhooks: WebhookRepository = MemoryWebhookRepository(self)
        self.deliveries: DeliveryRepository = MemoryDeliveryRepository(self)
        from adapters.memory.access_store import MemoryApiKeyRepository, MemoryIdempotencyRepository

        self.api_keys: ApiKeyRepository = MemoryApiKeyRepository(self)
        self.idempotency: IdempotencyRepository = MemoryIdempotencyRepository(self)

    async def __aenter__(self) -> MemoryUnitOfWork:
        if self._open:
            raise StoreError("this unit of work is already open")
        self._open = True
        self._discard()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._discard()
        self._open = False

    async def commit(self) -> None:
        self.ensure_open()
        try:
            if self._writes:
                self._store.apply(self._writes)
        finally:
            # Like a database, a failed commit leaves nothing of the transaction behind.
            self._discard()

    async def rollback(self) -> None:
        self.ensure_open()
        self._discard()

    def _discard(self) -> None:
        self._staged = _Staged()
        self._writes = []
        # The transaction is over: its row locks go with it.
        self._store.unlock_jobs(self._locked)
        self._locked = []

    # -- for the repositories -------------------------------------------------------

    def ensure_open(self) -> None:
        if not self._open:
            raise StoreError("unit of work used outside its 'async with' block")

    def ensure_writable(self) -> None:
        self.ensure_open()
        if self._read_only:
            raise StoreError("this unit of work is read-only")

    def stage(self, write: _Write) -> None:
        self._writes.append(write)

    async def lock_job(self, job_id: Hashable) -> None:
        if await self._store.lock_job(job_id, self):
            self._locked.append(job_id)

    def try_lock(self, key: Hashable) -> bool:
        """Lock ``key`` for this unit of work unless another holds it (no waiting)."""
        held = any(k == key for k in self._locked)
        if not self._store.try_lock(key, self):
            return False
        if not held:
            self._locked.append(key)
        return True

    def agent(self, agent_id: uuid.UUID) -> Agent | None:
        return _visible(self._staged.agents, self._store.committed.agents, agent_id)

    def source(self, source_id: uuid.UUID) -> Source | None:
        return _visible(self._staged.sources, self._store.committed.sources, source_id)

    def job(self, job_id: uuid.UUID) -> Job | None:
        return _visible(self._staged.jobs, self._store.committed.jobs, job_id)

    def all_agents(self) -> Iterator[Agent]:
        return _all_visible(self._staged.agents, self._store.committed.agents)

    def all_sources(self) -> Iterator[Source]:
        return _all_visible(self._staged.sources, self._store.committed.sources)

    def all_jobs(self) -> Iterator[Job]:
        return _all_visible(self._staged.jobs, self._store.committed.jobs)

    def webhook(self, agent_id: uuid.UUID) -> Webhook | None:
        return _visible(self._staged.webhooks, self._store.committed.webhooks, agent_id)

    def delivery(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return _visible(self._staged.deliveries, self._store.committed.deliveries, delivery_id)

    def all_deliveries(self) -> Iterator[WebhookDelivery]:
        return _all_visible(self._staged.deliveries, self._store.committed.deliveries)

    def all_api_keys(self) -> Iterator[ApiKey]:
        return _all_visible(self._staged.api_keys, self._store.committed.api_keys)

    def idempotency_record(self, key: tuple[uuid.UUID, str]) -> IdempotencyRecord | None:
        staged = self._staged.idempotency
        return staged[key] if key in staged else self._store.committed.idempotency.get(key)

    def all_idempotency_records(self) -> Iterator[IdempotencyRecord]:
        return _all_visible(self._staged.idempotency, self._store.committed.idempotency)

    @property
    def staged(self) -> _Staged:
        return self._staged


@dataclass(slots=True)
class _Staged:
    """This unit of work's view of its own writes: a new row, or None for deleted."""

    agents: dict[uuid.UUID, Agent | None] = field(default_factory=dict)
    sources: dict[uuid.UUID, Source | None] = field(default_factory=dict)
    jobs: dict[uuid.UUID, Job | None] = field(default_factory=dict)
    webhooks: dict[uuid.UUID, Webhook | None] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, WebhookDelivery | None] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKey | None] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str], IdempotencyRecord | None] = field(default_factory=dict)

    def delete_agent(self, uow: MemoryUnitOfWork, agent_id: uuid.UUID) -> None:
        self.agents[agent_id] = None
        for source in list(uow.all_sources()):
            if source.agent_id == agent_id:
                self.delete_source(uow, source.id)
        for job in list(uow.all_jobs()):
            if job.agent_id == agent_id:
                self.jobs[job.id] = None
        self.webhooks[agent_id] = None
        for delivery in list(uow.all_deliveries()):
            if delivery.agent_id == agent_id:
                self.deliveries[delivery.id] = None
        for key in list(uow.all_api_keys()):
            if key.agent_id == agent_id:
                self.api_keys[key.id] = None
        for record in list(uow.all_idempotency_records()):
            if record.agent_id == agent_id:
                self.idempotency[(record.agent_id, record.key)] = None

    def delete_source(self, uow: MemoryUnitOfWork, source_id: uuid.UUID) -> None:
        self.sources[source_id] = None
        for job in list(uow.all_jobs()):
            if job.data_source_id == source_id:
                self.jobs[job.id] = None
        for record in list(uow.all_idempotency_records()):
            if record.source_id == source_id:
                self.idempotency[(record.agent_id, record.key)] = None


class MemoryAgentRepository:
    """Agents of a ``MemoryUnitOfWork``."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, agent: Agent) -> None:
        self._uow.ensure_writable()
        row = _stored(agent)
        _check_new_agent(row, self._uow.agent(row.id), self._uow.all_agents())
        self._uow.staged.agents[row.id] = row

        def insert(tables: _Tables) -> None:
            _check_new_agent(row, tables.agents.get(row.id), tables.agents.values())
            tables.agents[row.id] = row

        self._uow.stage(insert)

    async def get(self, agent_id: uuid.UUID) -> Agent | None:
        self._uow.ensure_open()
        return _copy(self._uow.agent(agent_id))

    async def save(self, agent: Agent) -> None:
        self._uow.ensure_writable()
        current = self._uow.agent(agent.id)
        if current is None:
            return  # like an UPDATE that matches no row
        row = _stored(agent)

        def update(tables: _Tables) -> None:
            if (stored := tables.agents.get(row.id)) is not None:
                tables.agents[row.id] = _keep_identity(row, stored)

        self._uow.staged.agents[row.id] = _keep_identity(row, current)
        self._uow.stage(update)

    async def delete(self, agent_id: uuid.UUID) -> bool:
        self._uow.ensure_writable()
        if self._uow.agent(agent_id) is None:
            return False
        self._uow.staged.delete_agent(self._uow, agent_id)
        self._uow.stage(lambda tables: _delete_agent(tables, agent_id))
        return True

    async def list(self, page: PageRequest) -> Page[Agent]:
        self._uow.ensure_open()
        return _page(self._uow.all_agents(), page)


class MemorySourceRepository:
    """Sources of a ``MemoryUnitOfWork``."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, source: Source) -> None:
        self._uow.ensure_writable()
        row = _stored(source)
        _check_new_source(row, self._uow.source(row.id), self._uow.agent(row.agent_id))
        self._uow.staged.sources[row.id] = row

        def insert(tables: _Tables) -> None:
            _check_new_source(row, tables.sources.get(row.id), tables.agents.get(row.agent_id))
            tables.sources[row.id] = row

        self._uow.stage(insert)

    async def get(self, source_id: uuid.UUID) -> Source | None:
        self._uow.ensure_open()
        return _copy(self._uow.source(source_id))

    async def save(self, source: Source) -> bool:
        self._uow.ensure_writable()
        current = self._uow.source(source.id)
        if current is None:
            return False
        row = _stored(source)

        def update(tables: _Tables) -> None:
            # Deleted by someone else meanwhile: the UPDATE matches nothing, no resurrection.
            if (stored := tables.sources.get(row.id)) is not None:
                tables.sources[row.id] = _keep_identity(row, stored)

        self._uow.staged.sources[row.id] = _keep_identity(row, current)
        self._uow.stage(update)
        return True

    async def delete(self, source_id: uuid.UUID) -> bool:
        self._uow.ensure_writable()
        if self._uow.source(source_id) is None:
            return False
        self._uow.staged.delete_source(self._uow, source_id)
        self._uow.stage(lambda tables: _delete_source(tables, source_id))
        return True

    async def list(self, agent_id: uuid.UUID, page: PageRequest) -> Page[Source]:
        self._uow.ensure_open()
        return _page((s for s in self._uow.all_sources() if s.agent_id == agent_id), page)

    async def count(self, agent_id: uuid.UUID) -> tuple[int, int]:
        self._uow.ensure_open()
        mine = [s for s in self._uow.all_sources() if s.agent_id == agent_id]
        return len(mine), sum(s.chunk_count for s in mine)

    async def chunk_totals(self, *, limit: int) -> dict[uuid.UUID, int]:
        self._uow.ensure_open()
        totals: dict[uuid.UUID, int] = {}
        for source in self._uow.all_sources():
            totals[source.agent_id] = totals.get(source.agent_id, 0) + source.chunk_count
        largest = sorted(totals.items(), key=lambda item: -item[1])[:limit]
        return dict(largest)


class MemoryJobRepository:
    """Jobs of a ``MemoryUnitOfWork``; ``save`` is a compare-and-set on ``version``."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, job: Job) -> None:
        self._uow.ensure_writable()
        row = _stored(job)
        _check_new_job(row, self._uow.job(row.id), self._uow.source(row.data_source_id), self._uow.agent(row.agent_id))
        self._uow.staged.jobs[row.id] = row

        def insert(tables: _Tables) -> None:
            _check_new_job(
                row,
                tables.jobs.get(row.id),
                tables.sources.get(row.data_source_id),
                tables.agents.get(row.agent_id),
            )
            tables.jobs[row.id] = row

        self._uow.stage(insert)

    async def get(self, job_id: uuid.UUID) -> Job | None:
        self._uow.ensure_open()
        return _copy(self._uow.job(job_id))

    async def save(self, job: Job) -> None:
        self._uow.ensure_writable()
        # Wait for any other unit of work that saved this job to end, as a row lock does.
        await self._uow.lock_job(job.id)
        current = self._uow.job(job.id)
        if current is None or current.version != job.version:
            raise StaleJob(job.id)
        expected = job.version
        row = _keep_identity(_stored(job), current)
        row.version = expected + 1

        def update(tables: _Tables) -> None:
            # Re-checked at commit: a delete (cascade) committed meanwhile takes no lock.
            stored = tables.jobs.get(row.id)
            if stored is None or stored.version != expected:
                raise StaleJob(row.id)
            tables.jobs[row.id] = row

        self._uow.staged.jobs[row.id] = row
        self._uow.stage(update)
        job.version = expected + 1

    async def list(
        self,
        agent_id: uuid.UUID,
        page: PageRequest,
        *,
        source_id: uuid.UUID | None = None,
        status: JobStatus | None = None,
    ) -> Page[Job]:
        self._uow.ensure_open()
        selected = (
            j
            for j in self._uow.all_jobs()
            if j.agent_id == agent_id
            and (source_id is None or j.data_source_id == source_id)
            and (status is None or j.status == status)
        )
        return _page(selected, page)

    async def for_source(self, source_id: uuid.UUID, *, active_only: bool = False) -> builtins.list[Job]:
        self._uow.ensure_open()
        selected = [
            j
            for j in self._uow.all_jobs()
            if j.data_source_id == source_id and (not active_only or j.status in ACTIVE_STATUSES)
        ]
        return [_copy_row(j) for j in sorted(selected, key=_newest_key, reverse=True)]

    async def count_by_status(self, agent_id: uuid.UUID) -> dict[str, int]:
        self._uow.ensure_open()
        counts = {status.value: 0 for status in JobStatus}
        for job in self._uow.all_jobs():
            if job.agent_id == agent_id:
                counts[JobStatus(job.status).value] += 1
        return counts

    async def pending(
        self, *, limit: int, updated_before: datetime | None = None, due_at: datetime | None = None
    ) -> builtins.list[Job]:
        self._uow.ensure_open()
        selected = [
            j
            for j in self._uow.all_jobs()
            if j.status == JobStatus.PENDING
            and (updated_before is None or j.updated_at < updated_before)
            and (due_at is None or j.run_at() <= due_at)
        ]
        selected.sort(key=_pending_order)
        return [_copy_row(j) for j in selected[:limit]]

    async def next_due(self, now: datetime) -> DueJob | None:
        self._uow.ensure_writable()
        candidates = sorted(
            (j for j in self._uow.all_jobs() if _startable(j, now)),
            key=_pending_order,
        )
        for candidate in candidates:
            # The lock ``save`` takes: held elsewhere means being claimed or changed there.
            if not self._uow.try_lock(candidate.id):
                continue
            job = self._uow.job(candidate.id)  # what was committed before the lock was ours
            if job is None or not _startable(job, now):
                continue
            source, agent = self._uow.source(job.data_source_id), self._uow.agent(job.agent_id)
            if source is None or agent is None:
                continue
            return DueJob(job=_copy_row(job), source=_copy_row(source), agent=_copy_row(agent))
        return None

    async def expired_leases(self, now: datetime, *, limit: int) -> builtins.list[Job]:
        self._uow.ensure_open()
        selected = [
            j
            for j in self._uow.all_jobs()
            if j.status in (JobStatus.PROCESSING, JobStatus.CANCELLED)
            and j.lease_expires_at is not None
            and j.lease_expires_at <= now
        ]
        selected.sort(key=lambda j: (j.lease_expires_at, j.id))
        return [_copy_row(j) for j in selected[:limit]]

    async def queue_depth(self) -> dict[int, int]:
        self._uow.ensure_open()
        depth: dict[int, int] = {}
        for job in self._uow.all_jobs():
            if job.status == JobStatus.PENDING:
                depth[job.priority] = depth.get(job.priority, 0) + 1
        return depth

    async def census(self) -> JobCensus:
        self._uow.ensure_open()
        counts: dict[tuple[str, str], int] = {}
        oldest = None
        for job in self._uow.all_jobs():
            key = (JobType(job.type).value, JobStatus(job.status).value)
            counts[key] = counts.get(key, 0) + 1
            if job.status == JobStatus.PENDING and (oldest is None or job.run_at() < oldest):
                oldest = job.run_at()
        return JobCensus(by_type_and_status=counts, oldest_pending_run_at=oldest)

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        self._uow.ensure_writable()

        def finished(job: Job) -> bool:
            return job.status in TERMINAL_STATUSES and job.completed_at is not None and job.completed_at < cutoff

        doomed = sorted((j for j in self._uow.all_jobs() if finished(j)), key=lambda j: (j.completed_at, j.id))
        ids = [j.id for j in doomed[:limit]]
        for job_id in ids:
            self._uow.staged.jobs[job_id] = None

        def delete(tables: _Tables) -> None:
            # Re-check as a DELETE ... WHERE would: a job retried meanwhile stays.
            for job_id in ids:
                stored = tables.jobs.get(job_id)
                if stored is not None and finished(stored):
                    del tables.jobs[job_id]

        self._uow.stage(delete)
        return len(ids)


# -- helpers ------------------------------------------------------------------------------


def _pending_order(job: Job) -> tuple[Any, ...]:
    """The order pending jobs are taken in: priority, then oldest ``run_at`` first."""
    return (-job.priority, job.run_at(), job.created_at, job.id)


def _startable(job: Job, now: datetime) -> bool:
    return job.is_due(now) and job.attempts < job.max_attempts


def _visible(staged: dict[uuid.UUID, Row | None], committed: dict[uuid.UUID, Row], key: uuid.UUID) -> Row | None:
    return staged[key] if key in staged else committed.get(key)


def _all_visible(staged: Mapping[Key, Row | None], committed: Mapping[Key, Row]) -> Iterator[Row]:
    for key, row in committed.items():
        if key not in staged:
            yield row
    for staged_row in staged.values():
        if staged_row is not None:
            yield staged_row


def _stored(row: Row) -> Row:
    """A private copy of ``row`` fit to store: datetimes in UTC, naive ones refused."""
    stored = copy.deepcopy(row)
    for f in dataclasses.fields(stored):
        value = getattr(stored, f.name)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise StoreError(f"naive datetime in {f.name} cannot be stored; give it a timezone")
            setattr(stored, f.name, value.astimezone(UTC))
    return stored


def _copy(row: Row | None) -> Row | None:
    return None if row is None else copy.deepcopy(row)


def _copy_row(row: Row) -> Row:
    return copy.deepcopy(row)


def _keep_identity(row: Row, stored: Row) -> Row:
    """What a save may not change: a row's owner and its creation (as the SQL UPDATE)."""
    row.created_at = stored.created_at
    if isinstance(row, Agent) and isinstance(stored, Agent):
        row.namespace = stored.namespace
    elif isinstance(row, Source) and isinstance(stored, Source):
        row.agent_id = stored.agent_id
    elif isinstance(row, Job) and isinstance(stored, Job):
        row.agent_id = stored.agent_id
        row.data_source_id = stored.data_source_id
    return row


def _check_new_agent(row: Agent, existing: Agent | None, others: Iterable[Agent]) -> None:
    if existing is not None:
        raise DuplicateKey(f"agent {row.id} already exists")
    if any(other.namespace == row.namespace for other in others):
        raise DuplicateKey(f"namespace {row.namespace} is taken")


def _check_new_source(row: Source, existing: Source | None, agent: Agent | None) -> None:
    if existing is not None:
        raise DuplicateKey(f"source {row.id} already exists")
    if agent is None:
        raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")


def _check_new_job(row: Job, existing: Job | None, source: Source | None, agent: Agent | None) -> None:
    if existing is not None:
        raise DuplicateKey(f"job {row.id} already exists")
    if source is None:
        raise StoreError(f"constraint violated: source {row.data_source_id} does not exist")
    if agent is None:
        raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")


def _delete_agent(tables: _Tables, agent_id: uuid.UUID) -> None:
    if tables.agents.pop(agent_id, None) is None:
        return
    for source_id in [s.id for s in tables.sources.values() if s.agent_id == agent_id]:
        _delete_source(tables, source_id)
    for job_id in [j.id for j in tables.jobs.values() if j.agent_id == agent_id]:
        del tables.jobs[job_id]
    tables.webhooks.pop(agent_id, None)
    for delivery_id in [d.id for d in tables.deliveries.values() if d.agent_id == agent_id]:
        del tables.deliveries[delivery_id]
    for key_id in [k.id for k in tables.api_keys.values() if k.agent_id == agent_id]:
        del tables.api_keys[key_id]
    for ident in [i for i, r in tables.idempotency.items() if r.agent_id == agent_id]:
        del tables.idempotency[ident]


def _delete_source(tables: _Tables, source_id: uuid.UUID) -> None:
    if tables.sources.pop(source_id, None) is None:
        return
    for job_id in [j.id for j in tables.jobs.values() if j.data_source_id == source_id]:
        del tables.jobs[job_id]
    for ident in [i for i, r in tables.idempotency.items() if r.source_id == source_id]:
        del tables.idempotency[ident]


def _newest_key(row: Agent | Source | Job | WebhookDelivery) -> tuple[datetime, uuid.UUID]:
    return row.created_at, row.id


def _page(rows: Iterable[Listed], page: PageRequest) -> Page[Listed]:
    """Newest first on (created_at, id), strictly after the cursor."""
    ordered = sorted(rows, key=_newest_key, reverse=True)
    if page.cursor is not None:
        after = (page.cursor.created_at, page.cursor.id)
        ordered = [row for row in ordered if _newest_key(row) < after]
    items = [_copy_row(row) for row in ordered[: page.limit]]
    next_cursor = None
    if len(ordered) > page.limit:
        last = items[-1]
        next_cursor = Cursor(created_at=last.created_at, id=last.id).encode()
    return Page(items=items, next_cursor=next_cursor)
