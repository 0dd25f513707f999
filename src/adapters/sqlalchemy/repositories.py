"""Repositories of agents, sources and jobs on SQLAlchemy Core.

Each repository runs its statements through the unit of work that owns it (one
connection, one transaction) and turns rows into domain objects here, so no
SQLAlchemy row ever leaves the adapter.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, RowMapping

from adapters.sqlalchemy.tables import IS_PENDING, UtcDateTime, agents, data_sources, jobs
from domain.agents import Agent
from domain.jobs import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobCensus, JobStatus, JobType
from domain.pagination import Cursor, Page, PageRequest
from domain.sources import Source, SourceType
from ports.store import DueJob, StaleJob, StoreError

T = TypeVar("T")
M = TypeVar("M", bound=Mapping[Any, Any])


class Executor(Protocol):
    """What a repository needs from its unit of work."""

    async def execute(
        self, statement: sa.Executable, params: dict[str, Any] | None = None
    ) -> CursorResult[*tuple[Any, ...]]: ...

    def ensure_writable(self) -> None: ...


# -- statements built once ----------------------------------------------------------------
# The hot statements (a job's claim, saves and outcome; a source's creation) are built at
# import with bound parameters: SQLAlchemy then reuses their cache key and compiled form.
# Built per call with ``.values(dict)``, an UPDATE of a job cost ~4x the CPU (~430 vs
# ~115 microseconds), mostly in generating the cache key of its values.


def _by_id(table: sa.Table, key: str = "id") -> sa.Select[Any]:
    return sa.select(table).where(table.c[key] == sa.bindparam("k_id", type_=table.c[key].type))


def _update(table: sa.Table, *, fixed: tuple[str, ...], versioned: bool = False) -> tuple[sa.Update, tuple[str, ...]]:
    """UPDATE ... SET every column but ``fixed`` (bound as ``v_<name>``) WHERE id = :k_id;
    ``versioned`` also matches ``version = :k_version`` and increments it."""
    names = tuple(c.name for c in table.c if c.name not in fixed and not (versioned and c.name == "version"))
    values = {table.c[n]: sa.bindparam(f"v_{n}", type_=table.c[n].type) for n in names}
    where = [table.c.id == sa.bindparam("k_id", type_=table.c.id.type)]
    if versioned:
        where.append(table.c.version == sa.bindparam("k_version", type_=table.c.version.type))
    statement = table.update().where(*where).values(values)
    if versioned:
        statement = statement.values(version=table.c.version + 1)
    return statement, names


def _set(names: tuple[str, ...], values: Mapping[str, Any], key: Any) -> dict[str, Any]:
    params = {f"v_{n}": values[n] for n in names}
    params["k_id"] = key
    return params


_GET_AGENT = _by_id(agents)
_ADD_AGENT = agents.insert()
_GET_SOURCE = _by_id(data_sources)
_ADD_SOURCE = data_sources.insert()
# A source never changes owner or birth date.
_SAVE_SOURCE, _SOURCE_FIELDS = _update(data_sources, fixed=("id", "agent_id", "created_at"))
_GET_JOB = _by_id(jobs)
_ADD_JOB = jobs.insert()
# The WHERE on version is the whole concurrency control: on PostgreSQL a racing UPDATE
# waits for the row lock, then re-reads the row and matches nothing; on SQLite writers
# are serialised by BEGIN IMMEDIATE. Either way one save wins.
_SAVE_JOB, _JOB_FIELDS = _update(jobs, fixed=("id", "data_source_id", "agent_id", "created_at"), versioned=True)
# When a pending job may run, and the order pending jobs are taken in (``pending()``).
_run_at = sa.func.coalesce(jobs.c.scheduled_for, jobs.c.created_at)
_PENDING_ORDER = (jobs.c.priority.desc(), _run_at.asc(), jobs.c.created_at.asc(), jobs.c.id.asc())
# The best due job, locked, with its source and agent read alongside (the pending-
# dispatch index gives the order). Only the job row is locked (OF jobs): claimers of
# one agent's jobs must not queue on the agent's row.
_NEXT_DUE = (
    sa.select(jobs, data_sources, agents)
    .join(data_sources, data_sources.c.id == jobs.c.data_source_id)
    .join(agents, agents.c.id == jobs.c.agent_id)
    .where(
        IS_PENDING,
        # Due as Job.is_due says: a job created after ``now`` (another process's clock,
        # a moment later) is due too, or a claim could miss it while its own ticket
        # went to a claim that took another job, and it would wait for the reconciler.
        sa.or_(
            jobs.c.scheduled_for.is_(None), jobs.c.scheduled_for <= sa.bindparam("now", type_=jobs.c.created_at.type)
        ),
        jobs.c.attempts < jobs.c.max_attempts,
    )
    .order_by(*_PENDING_ORDER)
    .limit(1)
    .with_for_update(of=jobs, skip_locked=True)
)


class SqlAlchemyAgentRepository:
    """Agents in the ``agents`` table."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def add(self, agent: Agent) -> None:
        self._db.ensure_writable()
        await self._db.execute(_ADD_AGENT, _agent_values(agent))

    async def get(self, agent_id: uuid.UUID) -> Agent | None:
        row = (await self._db.execute(_GET_AGENT, {"k_id": agent_id})).mappings().first()
        return None if row is None else _convert(_agent, row)

    async def save(self, agent: Agent) -> None:
        self._db.ensure_writable()
        values = _agent_values(agent)
        for key in ("id", "created_at", "namespace"):
            del values[key]
        await self._db.execute(agents.update().where(agents.c.id == agent.id).values(values))

    async def delete(self, agent_id: uuid.UUID) -> bool:
        self._db.ensure_writable()
        # Sources and jobs go with it (ON DELETE CASCADE).
        result = await self._db.execute(agents.delete().where(agents.c.id == agent_id))
        return result.rowcount > 0

    async def list(self, page: PageRequest) -> Page[Agent]:
        return await _page(self._db, agents, sa.true(), page, _agent)


class SqlAlchemySourceRepository:
    """Sources in the ``data_sources`` table."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def add(self, source: Source) -> None:
        self._db.ensure_writable()
        await self._db.execute(_ADD_SOURCE, _source_values(source))

    async def get(self, source_id: uuid.UUID) -> Source | None:
        row = (await self._db.execute(_GET_SOURCE, {"k_id": source_id})).mappings().first()
        return None if row is None else _convert(_source, row)

    async def save(self, source: Source) -> bool:
        self._db.ensure_writable()
        result = await self._db.execute(_SAVE_SOURCE, _set(_SOURCE_FIELDS, _source_values(source), source.id))
        return result.rowcount > 0

    async def delete(self, source_id: uuid.UUID) -> bool:
        self._db.ensure_writable()
        result = await self._db.execute(data_sources.delete().where(data_sources.c.id == source_id))
        return result.rowcount > 0

    async def list(self, agent_id: uuid.UUID, page: PageRequest) -> Page[Source]:
        return await _page(self._db, data_sources, data_sources.c.agent_id == agent_id, page, _source)

    async def count(self, agent_id: uuid.UUID) -> tuple[int, int]:
        statement = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(data_sources.c.chunk_count), 0)).where(
            data_sources.c.agent_id == agent_id
        )
        row = (await self._db.execute(statement)).one()
        return int(row[0]), int(row[1])

    async def chunk_totals(self, *, limit: int) -> dict[uuid.UUID, int]:
        total = sa.func.sum(data_sources.c.chunk_count).label("total")
        statement = (
            sa.select(data_sources.c.agent_id, total)
            .group_by(data_sources.c.agent_id)
            .order_by(total.desc())
            .limit(limit)
        )
        return {row[0]: int(row[1] or 0) for row in (await self._db.execute(statement)).all()}


class SqlAlchemyJobRepository:
    """Jobs in the ``jobs`` table; ``save`` is a compare-and-set on ``version``."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def add(self, job: Job) -> None:
        self._db.ensure_writable()
        await self._db.execute(_ADD_JOB, _job_values(job))

    async def get(self, job_id: uuid.UUID) -> Job | None:
        row = (await self._db.execute(_GET_JOB, {"k_id": job_id})).mappings().first()
        return None if row is None else _convert(_job, row)

    async def save(self, job: Job) -> None:
        self._db.ensure_writable()
        params = _set(_JOB_FIELDS, _job_values(job), job.id)
        params["k_version"] = job.version
        result = await self._db.execute(_SAVE_JOB, params)
        if result.rowcount != 1:
            raise StaleJob(job.id)
        job.version += 1

    async def list(
        self,
        agent_id: uuid.UUID,
        page: PageRequest,
        *,
        source_id: uuid.UUID | None = None,
        status: JobStatus | None = None,
    ) -> Page[Job]:
        condition = jobs.c.agent_id == agent_id
        if source_id is not None:
            condition &= jobs.c.data_source_id == source_id
        if status is not None:
            condition &= jobs.c.status == JobStatus(status).value
        return await _page(self._db, jobs, condition, page, _job)

    async def for_source(self, source_id: uuid.UUID, *, active_only: bool = False) -> builtins.list[Job]:
        statement = sa.select(jobs).where(jobs.c.data_source_id == source_id)
        if active_only:
            statement = statement.where(jobs.c.status.in_(_values(ACTIVE_STATUSES)))
        statement = statement.order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        return await self._fetch(statement)

    async def count_by_status(self, agent_id: uuid.UUID) -> dict[str, int]:
        statement = sa.select(jobs.c.status, sa.func.count()).where(jobs.c.agent_id == agent_id).group_by(jobs.c.status)
        counts = {status.value: 0 for status in JobStatus}
        for row in (await self._db.execute(statement)).all():
            counts[row[0]] = int(row[1])
        return counts

    async def pending(
        self, *, limit: int, updated_before: datetime | None = None, due_at: datetime | None = None
    ) -> builtins.list[Job]:
        statement = sa.select(jobs).where(IS_PENDING)
        if updated_before is not None:
            statement = statement.where(jobs.c.updated_at < updated_before)
        if due_at is not None:
            statement = statement.where(_run_at <= due_at)
        statement = statement.order_by(*_PENDING_ORDER).limit(limit)
        return await self._fetch(statement)

    async def next_due(self, now: datetime) -> DueJob | None:
        self._db.ensure_writable()
        row = (await self._db.execute(_NEXT_DUE, {"now": now})).first()
        if row is None:
            return None
        fields = row._mapping
        return DueJob(
            job=_convert(_job, {c.name: fields[c] for c in jobs.c}),
            source=_convert(_source, {c.name: fields[c] for c in data_sources.c}),
            agent=_convert(_agent, {c.name: fields[c] for c in agents.c}),
        )

    async def expired_leases(self, now: datetime, *, limit: int) -> builtins.list[Job]:
        statement = (
            sa.select(jobs)
            .where(
                jobs.c.status.in_([JobStatus.PROCESSING.value, JobStatus.CANCELLED.value]),
                jobs.c.lease_expires_at <= now,
            )
            .order_by(jobs.c.lease_expires_at.asc(), jobs.c.id.asc())
            .limit(limit)
        )
        return await self._fetch(statement)

    async def queue_depth(self) -> dict[int, int]:
        statement = sa.select(jobs.c.priority, sa.func.count()).where(IS_PENDING).group_by(jobs.c.priority)
        return {int(row[0]): int(row[1]) for row in (await self._db.execute(statement)).all()}

    async def census(self) -> JobCensus:
        counts = sa.select(jobs.c.type, jobs.c.status, sa.func.count()).group_by(jobs.c.type, jobs.c.status)
        first_due = sa.func.min(_run_at)
        oldest = sa.select(sa.type_coerce(first_due, UtcDateTime())).where(IS_PENDING)
        rows = (await self._db.execute(counts)).all()
        first = (await self._db.execute(oldest)).scalar()
        return JobCensus(
            by_type_and_status={(str(r[0]), str(r[1])): int(r[2]) for r in rows},
            oldest_pending_run_at=first,
        )

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        self._db.ensure_writable()
        # Bounded batch, oldest first: a cleaner never holds locks on the whole history.
        # SKIP LOCKED (PostgreSQL; ignored on SQLite) lets two cleaners share the work.
        doomed = (
            sa.select(jobs.c.id)
            .where(jobs.c.status.in_(_values(TERMINAL_STATUSES)), jobs.c.completed_at < cutoff)
            .order_by(jobs.c.completed_at.asc())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._db.execute(jobs.delete().where(jobs.c.id.in_(doomed.scalar_subquery())))
        return int(result.rowcount)

    async def _fetch(self, statement: sa.Select[Any]) -> builtins.list[Job]:
        rows = (await self._db.execute(statement)).mappings().all()
        return [_convert(_job, row) for row in rows]


# -- keyset pagination -------------------------------------------------------------------


async def _page(
    db: Executor,
    table: sa.Table,
    condition: sa.ColumnElement[bool],
    page: PageRequest,
    convert: Callable[[RowMapping], T],
) -> Page[T]:
    """Newest first on (created_at, id); one row more than asked says whether more exist."""
    statement = sa.select(table).where(condition)
    if page.cursor is not None:
        key = sa.tuple_(table.c.created_at, table.c.id)
        after = sa.tuple_(
            sa.literal(page.cursor.created_at, table.c.created_at.type),
            sa.literal(page.cursor.id, table.c.id.type),
        )
        statement = statement.where(key < after)
    statement = statement.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(page.limit + 1)
    rows = (await db.execute(statement)).mappings().all()
    items = [_convert(convert, row) for row in rows[: page.limit]]
    next_cursor = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_cursor = Cursor(created_at=last["created_at"], id=last["id"]).encode()
    return Page(items=items, next_cursor=next_cursor)


# -- rows <-> domain objects ----------------------------------------------------------------


def _values(statuses: frozenset[JobStatus]) -> Sequence[str]:
    return sorted(status.value for status in statuses)


def _convert(convert: Callable[[M], T], row: M) -> T:
    try:
        return convert(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"stored row {row.get('id')} does not fit the domain: {exc}") from exc


def _agent_values(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "description": agent.description,
        "namespace": agent.namespace,
        "settings": agent.settings,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }


def _agent(row: Mapping[Any, Any]) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        namespace=row["namespace"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        description=row["description"],
        settings=dict(row["settings"] or {}),
    )


def _source_values(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "agent_id": source.agent_id,
        "name": source.name,
        "type": SourceType(source.type).value,
        "status": JobStatus(source.status).value,
        "options": source.options,
        "blob_key": source.blob_key,
        "content_type": source.content_type,
        "size_bytes": source.size_bytes,
        "url": source.url,
        "chunk_count": source.chunk_count,
        "error_message": source.error_message,
        "latest_job_id": source.latest_job_id,
        "created_at": source.created_at,
        "updated_at": source.updated_at,
    }


def _source(row: Mapping[Any, Any]) -> Source:
    return Source(
        id=row["id"],
        agent_id=row["agent_id"],
        name=row["name"],
        type=SourceType(row["type"]),
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        options=dict(row["options"] or {}),
        blob_key=row["blob_key"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        url=row["url"],
        chunk_count=row["chunk_count"],
        error_message=row["error_message"],
        latest_job_id=row["latest_job_id"],
    )


def _job_values(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "data_source_id": job.data_source_id,
        "agent_id": job.agent_id,
        "type": JobType(job.type).value,
        "status": JobStatus(job.status).value,
        "priority": job.priority,
        "progress": job.progress,
        "result": job.result,
        "error_message": job.error_message,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "scheduled_for": job.scheduled_for,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "locked_by": job.locked_by,
        "lease_expires_at": job.lease_expires_at,
        "version": job.version,
    }


def _job(row: Mapping[Any, Any]) -> Job:
    return Job(
        id=row["id"],
        data_source_id=row["data_source_id"],
        agent_id=row["agent_id"],
        type=JobType(row["type"]),
        status=JobStatus(row["status"]),
        priority=row["priority"],
        max_attempts=row["max_attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        progress=dict(row["progress"] or {}),
        result=None if row["result"] is None else dict(row["result"]),
        error_message=row["error_message"],
        attempts=row["attempts"],
        scheduled_for=row["scheduled_for"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        locked_by=row["locked_by"],
        lease_expires_at=row["lease_expires_at"],
        version=row["version"],
    )
