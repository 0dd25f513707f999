"""The store port's contract, run against every adapter: memory, SQLite and PostgreSQL.

PostgreSQL: each test session creates its own database on the server named by
``services.POSTGRES_URL`` (others may run this suite on the same server at the same
time), migrates it, empties it before each test and drops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.memory.store import MemoryStore
from adapters.sqlalchemy.engine import create_engine, parse_url
from adapters.sqlalchemy.migrations import upgrade, upgrade_async
from adapters.sqlalchemy.store import SqlAlchemyStore
from adapters.sqlalchemy.tables import metadata
from domain.access import ApiKey, hash_api_key
from domain.agents import Agent
from domain.errors import StaleDelivery
from domain.idempotency import IdempotencyRecord
from domain.jobs import Job, JobStatus, JobType
from domain.pagination import Cursor, PageRequest
from domain.retry import RetryPolicy
from domain.sources import Source, SourceType
from domain.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from ports.store import DuplicateKey, StaleJob, Store, StoreError, StoreUnavailable
from services import blocking

T = TypeVar("T")

T0 = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating every time is slower)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    blocking(upgrade_async(f"sqlite+aiosqlite:///{path}"))
    return path


async def _empty_postgres(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("TRUNCATE webhook_deliveries, webhooks, jobs, data_sources, agents CASCADE")
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Where the test's store lives (None: in memory). Synchronous: it may run setup loops."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        path = tmp_path / "db" / "sluice.db"
        path.parent.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    blocking(_empty_postgres(url))
    return url


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[Store]:
    adapter: Store = MemoryStore() if store_url is None else SqlAlchemyStore(store_url)
    try:
        yield adapter
    finally:
        await adapter.close()


# -- builders --------------------------------------------------------------------------------


def make_agent(now: datetime = T0, name: str = "Support bot") -> Agent:
    return Agent.new(name=name, now=now, description="answers questions")


def make_source(agent: Agent, now: datetime = T0, type: SourceType = SourceType.TEXT) -> Source:
    return Source.new(agent_id=agent.id, name="Pasted notes", type=type, now=now, options={"chunking": {"size": 256}})


def make_job(
    source: Source, now: datetime = T0, priority: int | None = None, type: JobType = JobType.PROCESS_TEXT
) -> Job:
    return Job.new(source_id=source.id, agent_id=source.agent_id, type=type, now=now, max_attempts=3, priority=priority)


async def seed(store: Store, now: datetime = T0) -> tuple[Agent, Source]:
    agent = make_agent(now)
    source = make_source(agent, now)
    async with store.unit_of_work() as uow:
        await uow.agents.add(agent)
        await uow.sources.add(source)
        await uow.commit()
    return agent, source


async def add_jobs(store: Store, *jobs: Job) -> None:
    async with store.unit_of_work() as uow:
        for job in jobs:
            await uow.jobs.add(job)
        await uow.commit()


async def get_job(store: Store, job_id: uuid.UUID) -> Job | None:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.jobs.get(job_id)


# -- round trips -----------------------------------------------------------------------------


async def test_agent_round_trip(store: Store) -> None:
    agent = make_agent()
    agent.settings = {"model": "small", "nested": {"k": [1, 2]}}
    async with store.unit_of_work() as uow:
        await uow.agents.add(agent)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) == agent
        assert await uow.agents.get(uuid.uuid4()) is None


async def test_source_round_trip_with_every_field(store: Store) -> None:
    agent, _ = await seed(store)
    source = make_source(agent, type=SourceType.FILE)
    source.blob_key = "agents/x/report.pdf"
    source.content_type = "application/pdf"
    source.size_bytes = 12_345_678_901
    source.url = None
    source.chunk_count = 42
    source.error_message = "boom"
    source.latest_job_id = uuid.uuid4()
    source.status = JobStatus.FAILED
    async with store.unit_of_work() as uow:
        await uow.sources.add(source)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        loaded = await uow.sources.get(source.id)
    assert loaded == source
    assert loaded is not None and isinstance(loaded.type, SourceType) and isinstance(loaded.status, JobStatus)


async def test_job_round_trip_with_every_field(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    job.start(T0, worker_id="worker-1", lease=LEASE)
    job.report_progress(T0 + timedelta(seconds=1), {"stage": "embedding", "percent": 40, "done": [1, 2]})
    job.result = {"chunks": 7, "meta": {"pages": [1, 2, 3]}}
    job.error_message = "first attempt failed"
    job.scheduled_for = T0 - timedelta(hours=1)
    job.completed_at = T0 + timedelta(minutes=1, microseconds=123)
    await add_jobs(store, job)
    loaded = await get_job(store, job.id)
    assert loaded == job
    assert loaded is not None
    assert isinstance(loaded.type, JobType) and isinstance(loaded.status, JobStatus)
    for stamp in (loaded.created_at, loaded.started_at, loaded.lease_expires_at, loaded.completed_at):
        assert stamp is not None and stamp.utcoffset() == timedelta(0)


async def test_none_fields_stay_none(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    assert job.result is None and job.scheduled_for is None and job.locked_by is None
    await add_jobs(store, job)
    loaded = await get_job(store, job.id)
    assert loaded is not None
    assert loaded.result is None
    assert loaded.error_message is None
    assert loaded.scheduled_for is None and loaded.started_at is None and loaded.completed_at is None
    assert loaded.locked_by is None and loaded.lease_expires_at is None


async def test_datetimes_come_back_in_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    local = datetime(2025, 1, 15, 11, 30, 0, 500, tzinfo=paris)
    agent = make_agent(now=local)
    async with store.unit_of_work() as uow:
        await uow.agents.add(agent)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        loaded = await uow.agents.get(agent.id)
    assert loaded is not None
    assert loaded.created_at == local
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(store: Store) -> None:
    agent = make_agent(now=datetime(2025, 1, 15, 10, 0))
    with pytest.raises(StoreError):
        async with store.unit_of_work() as uow:
            await uow.agents.add(agent)
            await uow.commit()


async def test_returned_objects_are_copies(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    job.progress["stage"] = "changed after add"
    async with store.unit_of_work() as uow:
        loaded = await uow.jobs.get(job.id)
        assert loaded is not None
        loaded.progress["stage"] = "changed after get"
        again = await uow.jobs.get(job.id)
    assert again is not None and again.progress["stage"] == "queued"


async def test_saves_write_back_changes(store: Store) -> None:
    agent, source = await seed(store)
    async with store.unit_of_work() as uow:
        loaded_agent = await uow.agents.get(agent.id)
        loaded_source = await uow.sources.get(source.id)
        assert loaded_agent is not None and loaded_source is not None
        loaded_agent.name = "Renamed"
        loaded_agent.settings = {"a": 1}
        loaded_source.follow(JobStatus.COMPLETED, T0 + timedelta(minutes=1))
        loaded_source.chunk_count = 9
        await uow.agents.save(loaded_agent)
        assert await uow.sources.save(loaded_source) is True
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) == loaded_agent
        assert await uow.sources.get(source.id) == loaded_source


async def test_saving_a_deleted_source_returns_false(store: Store) -> None:
    agent, _ = await seed(store)
    ghost = make_source(agent)
    async with store.unit_of_work() as uow:
        assert await uow.sources.save(ghost) is False
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.sources.get(ghost.id) is None


async def test_duplicate_ids_raise_duplicate_key(store: Store) -> None:
    agent, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    for add in (
        lambda uow: uow.agents.add(agent),
        lambda uow: uow.sources.add(source),
        lambda uow: uow.jobs.add(job),
    ):
        with pytest.raises(DuplicateKey):
            async with store.unit_of_work() as uow:
                await add(uow)
                await uow.commit()


async def test_a_job_needs_an_existing_source(store: Store) -> None:
    agent, _ = await seed(store)
    orphan = make_job(make_source(agent))
    with pytest.raises(StoreError) as caught:
        async with store.unit_of_work() as uow:
            await uow.jobs.add(orphan)
            await uow.commit()
    assert not isinstance(caught.value, DuplicateKey)
    assert await get_job(store, orphan.id) is None


async def test_a_read_only_unit_of_work_refuses_writes(store: Store) -> None:
    with pytest.raises(StoreError):
        async with store.unit_of_work(read_only=True) as uow:
            await uow.agents.add(make_agent())


# -- transactions ----------------------------------------------------------------------------


async def test_changes_are_invisible_to_others_until_commit(store: Store) -> None:
    agent = make_agent()
    async with store.unit_of_work() as writer:
        await writer.agents.add(agent)
        assert await writer.agents.get(agent.id) == agent  # a unit of work reads its own writes
        async with store.unit_of_work(read_only=True) as other:
            assert await other.agents.get(agent.id) is None
        await writer.commit()
    async with store.unit_of_work(read_only=True) as other:
        assert await other.agents.get(agent.id) == agent


async def test_leaving_without_commit_rolls_back(store: Store) -> None:
    agent = make_agent()
    async with store.unit_of_work() as uow:
        await uow.agents.add(agent)
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) is None


async def test_an_exception_rolls_back(store: Store) -> None:
    agent = make_agent()
    with pytest.raises(RuntimeError):
        async with store.unit_of_work() as uow:
            await uow.agents.add(agent)
            raise RuntimeError("handler failed")
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) is None


async def test_rollback_discards_and_the_unit_of_work_goes_on(store: Store) -> None:
    first, second = make_agent(name="first"), make_agent(name="second")
    async with store.unit_of_work() as uow:
        await uow.agents.add(first)
        await uow.rollback()
        assert await uow.agents.get(first.id) is None
        await uow.agents.add(second)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(first.id) is None
        assert await uow.agents.get(second.id) == second


async def test_a_unit_of_work_is_used_inside_its_block(store: Store) -> None:
    uow = store.unit_of_work()
    with pytest.raises(StoreError):
        await uow.agents.get(uuid.uuid4())


async def test_a_cancelled_unit_of_work_releases_its_locks(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    holding = asyncio.Event()

    async def hold() -> None:
        async with store.unit_of_work() as uow:
            mine = await uow.jobs.get(job.id)
            assert mine is not None
            mine.cancel(T0)
            await uow.jobs.save(mine)
            holding.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(hold())
    await holding.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5), store.unit_of_work() as uow:  # a leaked lock would block here
        loaded = await uow.jobs.get(job.id)
        assert loaded is not None and loaded.status is JobStatus.PENDING and loaded.version == 0
        loaded.start(T0, worker_id="next", lease=LEASE)
        await uow.jobs.save(loaded)
        await uow.commit()


# -- compare-and-set -------------------------------------------------------------------------


async def test_save_increments_the_version(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    async with store.unit_of_work() as uow:
        loaded = await uow.jobs.get(job.id)
        assert loaded is not None and loaded.version == 0
        loaded.start(T0, worker_id="w1", lease=LEASE)
        await uow.jobs.save(loaded)
        assert loaded.version == 1
        loaded.report_progress(T0, {"stage": "chunking", "percent": 10})
        await uow.jobs.save(loaded)  # twice in one unit of work
        assert loaded.version == 2
        await uow.commit()
    assert await get_job(store, job.id) == loaded


async def test_a_stale_save_raises_and_writes_nothing(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    stale = job.copy()
    async with store.unit_of_work() as uow:
        fresh = await uow.jobs.get(job.id)
        assert fresh is not None
        fresh.cancel(T0 + timedelta(seconds=1))
        await uow.jobs.save(fresh)
        await uow.commit()
    stale.start(T0 + timedelta(seconds=2), worker_id="late", lease=LEASE)
    with pytest.raises(StaleJob) as caught:
        async with store.unit_of_work() as uow:
            await uow.jobs.save(stale)
            await uow.commit()
    assert caught.value.job_id == job.id
    stored = await get_job(store, job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED and stored.version == 1


async def test_saving_a_deleted_job_is_stale(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    with pytest.raises(StaleJob):
        async with store.unit_of_work() as uow:
            await uow.jobs.save(job)


async def test_two_racing_claims_exactly_one_wins(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)

    async def claim(worker: str) -> str:
        mine = job.copy()  # both read version 0
        async with store.unit_of_work() as uow:
            mine.start(T0, worker_id=worker, lease=LEASE)
            try:
                await uow.jobs.save(mine)
            except StaleJob:
                return "lost at save"
            await asyncio.sleep(0.01)  # let the other one reach its save
            await uow.commit()
        return worker

    outcomes = sorted(await asyncio.gather(claim("a"), claim("b")))
    # The loser learns it at save, where callers catch it, never later at commit.
    assert outcomes in (["a", "lost at save"], ["b", "lost at save"]), outcomes
    stored = await get_job(store, job.id)
    assert stored is not None
    assert stored.locked_by == outcomes[0] and stored.version == 1 and stored.attempts == 1


async def test_many_workers_read_and_claim_one_job(store: Store) -> None:
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)

    async def claim(worker: str) -> bool:
        async with store.unit_of_work() as uow:
            loaded = await uow.jobs.get(job.id)
            assert loaded is not None
            if loaded.status is not JobStatus.PENDING:
                return False
            loaded.start(T0, worker_id=worker, lease=LEASE)
            await asyncio.sleep(0)
            try:
                await uow.jobs.save(loaded)
                await uow.commit()
            except StaleJob:
                return False
            return True

    results = await asyncio.gather(*(claim(f"w{i}") for i in range(5)))
    assert results.count(True) == 1
    stored = await get_job(store, job.id)
    assert stored is not None and stored.attempts == 1


# -- lists -----------------------------------------------------------------------------------


async def test_jobs_page_newest_first_without_duplicates_or_gaps(store: Store) -> None:
    agent, source = await seed(store)
    # Several jobs share a timestamp: the id must break the tie consistently.
    jobs = [make_job(source, now=T0 + timedelta(seconds=i // 3)) for i in range(11)]
    await add_jobs(store, *jobs)
    expected = sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)

    seen: list[Job] = []
    cursor: str | None = None
    pages = 0
    async with store.unit_of_work(read_only=True) as uow:
        while True:
            request = PageRequest(limit=4, cursor=Cursor.decode(cursor) if cursor else None)
            page = await uow.jobs.list(agent.id, request)
            pages += 1
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert pages == 3
    assert [j.id for j in seen] == [j.id for j in expected]


async def test_the_last_full_page_has_no_next_cursor(store: Store) -> None:
    agent, source = await seed(store)
    await add_jobs(store, *(make_job(source, now=T0 + timedelta(seconds=i)) for i in range(4)))
    async with store.unit_of_work(read_only=True) as uow:
        first = await uow.jobs.list(agent.id, PageRequest(limit=2))
        assert first.next_cursor is not None
        second = await uow.jobs.list(agent.id, PageRequest(limit=2, cursor=Cursor.decode(first.next_cursor)))
        assert len(second.items) == 2 and second.next_cursor is None
        empty = await uow.jobs.list(uuid.uuid4(), PageRequest(limit=2))
        assert empty.items == [] and empty.next_cursor is None


async def test_jobs_filter_by_status_and_source(store: Store) -> None:
    agent, first = await seed(store)
    second = make_source(agent, now=T0 + timedelta(seconds=1))
    async with store.unit_of_work() as uow:
        await uow.sources.add(second)
        await uow.commit()
    a, b, c = make_job(first), make_job(second, now=T0 + timedelta(seconds=1)), make_job(second)
    c.cancel(T0)
    other_agent, other_source = await seed(store)
    d = make_job(other_source)
    await add_jobs(store, a, b, c, d)
    async with store.unit_of_work(read_only=True) as uow:
        page = await uow.jobs.list(agent.id, PageRequest(), source_id=second.id)
        assert {j.id for j in page.items} == {b.id, c.id}
        page = await uow.jobs.list(agent.id, PageRequest(), status=JobStatus.PENDING)
        assert [j.id for j in page.items] == [b.id, a.id]
        page = await uow.jobs.list(agent.id, PageRequest(), source_id=second.id, status=JobStatus.CANCELLED)
        assert [j.id for j in page.items] == [c.id]
        page = await uow.jobs.list(other_agent.id, PageRequest())
        assert [j.id for j in page.items] == [d.id]


async def test_sources_and_agents_page_newest_first(store: Store) -> None:
    agent, oldest = await seed(store)
    newer = [make_source(agent, now=T0 + timedelta(minutes=i)) for i in range(1, 4)]
    async with store.unit_of_work() as uow:
        for source in newer:
            await uow.sources.add(source)
        await uow.commit()
    later_agent = make_agent(now=T0 + timedelta(hours=1))
    async with store.unit_of_work() as uow:
        await uow.agents.add(later_agent)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        first = await uow.sources.list(agent.id, PageRequest(limit=3))
        assert [s.id for s in first.items] == [s.id for s in reversed(newer)]
        assert first.next_cursor is not None
        rest = await uow.sources.list(agent.id, PageRequest(limit=3, cursor=Cursor.decode(first.next_cursor)))
        assert [s.id for s in rest.items] == [oldest.id] and rest.next_cursor is None
        agents = await uow.agents.list(PageRequest())
        assert [a.id for a in agents.items] == [later_agent.id, agent.id]


async def test_for_source_lists_all_or_only_active_jobs(store: Store) -> None:
    _, source = await seed(store)
    done, running, waiting = (make_job(source, now=T0 + timedelta(seconds=i)) for i in range(3))
    done.start(T0, worker_id="w", lease=LEASE)
    done.complete(T0 + timedelta(seconds=5), {"chunks": 1})
    running.start(T0, worker_id="w", lease=LEASE)
    await add_jobs(store, done, running, waiting)
    async with store.unit_of_work(read_only=True) as uow:
        every = await uow.jobs.for_source(source.id)
        active = await uow.jobs.for_source(source.id, active_only=True)
        none = await uow.jobs.for_source(uuid.uuid4())
    assert [j.id for j in every] == [waiting.id, running.id, done.id]
    assert [j.id for j in active] == [waiting.id, running.id]
    assert none == []


# -- cascades and counts ---------------------------------------------------------------------


async def test_deleting_a_source_deletes_its_jobs(store: Store) -> None:
    agent, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    async with store.unit_of_work() as uow:
        assert await uow.sources.delete(source.id) is True
        assert await uow.jobs.get(job.id) is None  # visible inside the unit of work too
        assert await uow.sources.delete(source.id) is False
        await uow.commit()
    assert await get_job(store, job.id) is None
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) is not None


async def test_deleting_an_agent_deletes_its_sources_and_jobs(store: Store) -> None:
    agent, source = await seed(store)
    job = make_job(source)
    _, survivor_source = await seed(store)
    survivor = make_job(survivor_source)
    await add_jobs(store, job, survivor)
    async with store.unit_of_work() as uow:
        assert await uow.agents.delete(agent.id) is True
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.agents.get(agent.id) is None
        assert await uow.sources.get(source.id) is None
        assert await uow.jobs.get(job.id) is None
        assert await uow.jobs.get(survivor.id) is not None
    async with store.unit_of_work() as uow:
        assert await uow.agents.delete(agent.id) is False


async def test_count_by_status_has_every_status(store: Store) -> None:
    agent, source = await seed(store)
    jobs = [make_job(source) for _ in range(4)]
    jobs[0].cancel(T0)
    jobs[1].start(T0, worker_id="w", lease=LEASE)
    await add_jobs(store, *jobs)
    async with store.unit_of_work(read_only=True) as uow:
        counts = await uow.jobs.count_by_status(agent.id)
        nothing = await uow.jobs.count_by_status(uuid.uuid4())
    assert counts == {"pending": 2, "processing": 1, "completed": 0, "failed": 0, "cancelled": 1}
    assert nothing == {status.value: 0 for status in JobStatus}


async def test_count_sources_and_chunks(store: Store) -> None:
    agent, source = await seed(store)
    extra = make_source(agent)
    extra.chunk_count = 5
    async with store.unit_of_work() as uow:
        await uow.sources.add(extra)
        loaded = await uow.sources.get(source.id)
        assert loaded is not None
        loaded.chunk_count = 7
        await uow.sources.save(loaded)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.sources.count(agent.id) == (2, 12)
        assert await uow.sources.count(uuid.uuid4()) == (0, 0)


# -- dispatch and housekeeping ---------------------------------------------------------------


async def test_pending_orders_by_priority_then_run_at_then_fifo(store: Store) -> None:
    _, source = await seed(store)
    crawl = make_job(source, now=T0, type=JobType.CRAWL_WEBSITE)  # priority 3
    text_late = make_job(source, now=T0 + timedelta(seconds=2))  # 10
    text_early = make_job(source, now=T0 + timedelta(seconds=1))  # 10
    # Created first but scheduled after text_late: run_at, not created_at, decides.
    text_retry = make_job(source, now=T0 - timedelta(minutes=1))
    text_retry.scheduled_for = T0 + timedelta(seconds=3)
    file = make_job(source, now=T0, type=JobType.PROCESS_FILE)  # 5
    same_run_at_a = make_job(source, now=T0 + timedelta(seconds=10), priority=50)
    same_run_at_b = make_job(source, now=T0 + timedelta(seconds=5), priority=50)
    same_run_at_b.scheduled_for = T0 + timedelta(seconds=10)
    running = make_job(source, now=T0 - timedelta(hours=1), priority=100)
    running.start(T0, worker_id="w", lease=LEASE)
    await add_jobs(store, crawl, text_late, text_early, text_retry, file, same_run_at_a, same_run_at_b, running)
    async with store.unit_of_work(read_only=True) as uow:
        pending = await uow.jobs.pending(limit=10)
        top_two = await uow.jobs.pending(limit=2)
    assert [j.id for j in pending] == [
        same_run_at_b.id,  # same priority and run_at as _a: the older one first
        same_run_at_a.id,
        text_early.id,
        text_late.id,
        text_retry.id,
        file.id,
        crawl.id,
    ]
    assert [j.id for j in top_two] == [same_run_at_b.id, same_run_at_a.id]


async def test_pending_updated_before_skips_recently_touched_jobs(store: Store) -> None:
    _, source = await seed(store)
    old = make_job(source, now=T0)
    recent = make_job(source, now=T0 + timedelta(minutes=10))
    await add_jobs(store, old, recent)
    async with store.unit_of_work(read_only=True) as uow:
        orphans = await uow.jobs.pending(limit=10, updated_before=T0 + timedelta(minutes=5))
        none = await uow.jobs.pending(limit=10, updated_before=T0)
    assert [j.id for j in orphans] == [old.id]
    assert none == []


async def test_pending_due_at_keeps_only_jobs_due_by_then(store: Store) -> None:
    _, source = await seed(store)
    now = make_job(source, now=T0)
    later = make_job(source, now=T0 - timedelta(minutes=1), priority=99)
    later.scheduled_for = T0 + timedelta(minutes=5)
    await add_jobs(store, now, later)
    async with store.unit_of_work(read_only=True) as uow:
        due_now = await uow.jobs.pending(limit=10, due_at=T0)
        due_later = await uow.jobs.pending(limit=10, due_at=T0 + timedelta(minutes=5))
    assert [j.id for j in due_now] == [now.id]
    assert [j.id for j in due_later] == [later.id, now.id]


async def start_next(store: Store, now: datetime, worker: str) -> uuid.UUID | None:
    """What a worker does with a free slot: take the best due job and start it."""
    async with store.unit_of_work() as uow:
        due = await uow.jobs.next_due(now)
        if due is None:
            return None
        due.job.start(now, worker_id=worker, lease=LEASE)
        await uow.jobs.save(due.job)
        await uow.commit()
    return due.job.id


async def test_next_due_is_the_first_pending_job_with_attempts_left(store: Store) -> None:
    agent, source = await seed(store)
    low = make_job(source, now=T0 - timedelta(minutes=3), priority=1)
    old = make_job(source, now=T0 - timedelta(minutes=2))
    young = make_job(source, now=T0 - timedelta(minutes=1))
    not_due = make_job(source, now=T0 - timedelta(hours=1), priority=99)
    not_due.scheduled_for = T0 + timedelta(seconds=1)
    spent = make_job(source, now=T0 - timedelta(hours=1), priority=98)
    spent.attempts = spent.max_attempts
    running = make_job(source, now=T0 - timedelta(hours=1), priority=97)
    running.start(T0, worker_id="w", lease=LEASE)
    # Created a moment after the claimer read its clock (another process): due all the same.
    fresh = make_job(source, now=T0 + timedelta(seconds=5))
    await add_jobs(store, young, low, not_due, spent, running, old, fresh)
    async with store.unit_of_work() as uow:
        due = await uow.jobs.next_due(T0)
        assert due is not None
        assert due.job == old
        assert due.source == source and due.agent == agent
    claimed = [await start_next(store, T0, "w") for _ in range(5)]
    assert claimed == [old.id, young.id, fresh.id, low.id, None]
    assert await start_next(store, T0 + timedelta(seconds=1), "w") == not_due.id
    with pytest.raises(StoreError):
        async with store.unit_of_work(read_only=True) as uow:
            await uow.jobs.next_due(T0)


async def test_next_due_skips_a_job_another_unit_of_work_holds_without_waiting(
    store: Store, store_url: str | None
) -> None:
    _, source = await seed(store)
    first_job, second_job = make_job(source, now=T0), make_job(source, now=T0 + timedelta(milliseconds=1))
    await add_jobs(store, first_job, second_job)
    now = T0 + timedelta(seconds=1)
    one_writer = store_url is not None and store_url.startswith("sqlite")
    async with store.unit_of_work() as first:
        mine = await first.jobs.next_due(now)
        assert mine is not None and mine.job.id == first_job.id
        # Another worker claims meanwhile: PostgreSQL and memory skip the locked job and
        # take the next at once; SQLite makes it wait for the first's commit (one writer
        # at a time), after which the first job is no longer pending.
        other = asyncio.create_task(start_next(store, now, "b"))
        for _ in range(10 if one_writer else 250):
            await asyncio.sleep(0.02)
            if other.done():
                break
        assert other.done() is not one_writer
        mine.job.start(now, worker_id="a", lease=LEASE)
        await first.jobs.save(mine.job)
        await first.commit()
    assert await asyncio.wait_for(other, 15) == second_job.id
    stored = [await get_job(store, job.id) for job in (first_job, second_job)]
    assert [(j.locked_by, j.attempts) for j in stored if j is not None] == [("a", 1), ("b", 1)]


async def test_many_workers_start_each_job_once(store: Store) -> None:
    _, source = await seed(store)
    jobs = [make_job(source, now=T0 + timedelta(milliseconds=i), priority=i % 3) for i in range(12)]
    await add_jobs(store, *jobs)
    now = T0 + timedelta(seconds=1)

    async def worker(name: str) -> list[uuid.UUID]:
        started: list[uuid.UUID] = []
        while (job_id := await start_next(store, now, name)) is not None:
            started.append(job_id)
        return started

    runs = await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    flat = [job_id for run in runs for job_id in run]
    assert sorted(flat) == sorted(j.id for j in jobs)
    for run in runs:  # each worker took its jobs best first
        order = {j.id: (-j.priority, j.created_at) for j in jobs}
        assert [order[i] for i in run] == sorted(order[i] for i in run)


async def test_expired_leases(store: Store) -> None:
    _, source = await seed(store)
    expired, alive, exactly_now, pending = (make_job(source) for _ in range(4))
    expired.start(T0, worker_id="dead", lease=timedelta(minutes=1))
    alive.start(T0, worker_id="alive", lease=timedelta(hours=1))
    exactly_now.start(T0, worker_id="edge", lease=timedelta(minutes=2))
    await add_jobs(store, expired, alive, exactly_now, pending)
    now = T0 + timedelta(minutes=2)
    async with store.unit_of_work() as uow:
        found = await uow.jobs.expired_leases(now, limit=10)
        assert [j.id for j in found] == [expired.id, exactly_now.id]
        assert [j.id for j in await uow.jobs.expired_leases(now, limit=1)] == [expired.id]
        reclaimed = found[0]
        reclaimed.reclaim(now, policy=RetryPolicy(), rnd=0.5)
        await uow.jobs.save(reclaimed)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert [j.id for j in await uow.jobs.expired_leases(now, limit=10)] == [exactly_now.id]


async def test_expired_leases_include_jobs_cancelled_while_running(store: Store) -> None:
    _, source = await seed(store)
    owed, done = make_job(source), make_job(source)
    for job in (owed, done):
        job.start(T0, worker_id="dead", lease=timedelta(minutes=1))
        job.cancel(T0)
    done.release_cleanup(T0)
    await add_jobs(store, owed, done)
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.jobs.expired_leases(T0 + timedelta(minutes=1), limit=10)
    assert [j.id for j in found] == [owed.id] and found[0].cleanup_owed


async def test_census_counts_jobs_by_type_and_status(store: Store) -> None:
    agent, source = await seed(store)
    other_source = make_source(agent)
    async with store.unit_of_work() as uow:
        await uow.sources.add(other_source)
        await uow.commit()
    late = make_job(source, now=T0 + timedelta(minutes=5))
    early = make_job(other_source, now=T0 + timedelta(minutes=1), type=JobType.PROCESS_FILE)
    done = make_job(source, now=T0)
    done.start(T0, worker_id="w", lease=LEASE)
    done.complete(T0, {})
    await add_jobs(store, late, early, done)
    async with store.unit_of_work(read_only=True) as uow:
        census = await uow.jobs.census()
    assert census.by_type_and_status == {
        ("process_text", "pending"): 1,
        ("process_file", "pending"): 1,
        ("process_text", "completed"): 1,
    }
    assert census.oldest_pending_run_at == T0 + timedelta(minutes=1)


async def test_chunk_totals_per_agent(store: Store) -> None:
    big, source_a = await seed(store)
    small = make_agent(name="small")
    source_b = make_source(small)
    source_a.chunk_count, source_b.chunk_count = 40, 3
    async with store.unit_of_work() as uow:
        await uow.agents.add(small)
        await uow.sources.add(source_b)
        await uow.sources.save(source_a)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.sources.chunk_totals(limit=10) == {big.id: 40, small.id: 3}
        assert await uow.sources.chunk_totals(limit=1) == {big.id: 40}


async def test_queue_depth_counts_pending_jobs_per_priority(store: Store) -> None:
    _, source = await seed(store)
    jobs = [
        make_job(source),
        make_job(source),
        make_job(source, type=JobType.CRAWL_WEBSITE),
        make_job(source, priority=0),
    ]
    running = make_job(source)
    running.start(T0, worker_id="w", lease=LEASE)
    await add_jobs(store, *jobs, running)
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.jobs.queue_depth() == {10: 2, 3: 1, 0: 1}


async def test_delete_finished_before_in_bounded_batches(store: Store) -> None:
    _, source = await seed(store)
    finished = []
    for i in range(5):
        job = make_job(source)
        job.start(T0, worker_id="w", lease=LEASE)
        done_at = T0 + timedelta(minutes=i)
        job.complete(done_at, {}) if i % 2 else job.fail(done_at, "bad input")
        finished.append(job)
    cancelled = make_job(source)
    cancelled.cancel(T0 + timedelta(minutes=1, seconds=30))
    recent = make_job(source)
    recent.cancel(T0 + timedelta(days=1))
    pending, running = make_job(source), make_job(source)
    running.start(T0, worker_id="w", lease=LEASE)
    await add_jobs(store, *finished, cancelled, recent, pending, running)

    cutoff = T0 + timedelta(hours=1)
    deleted = []
    async with store.unit_of_work() as uow:
        while batch := await uow.jobs.delete_finished_before(cutoff, limit=4):
            deleted.append(batch)
        await uow.commit()
    assert deleted == [4, 2]
    for job in (*finished, cancelled):
        assert await get_job(store, job.id) is None
    for job in (recent, pending, running):
        assert await get_job(store, job.id) is not None


# -- webhooks and their delivery outbox --------------------------------------------------------

CLAIM = timedelta(seconds=50)


def make_delivery(agent: Agent, now: datetime = T0, job_id: uuid.UUID | None = None) -> WebhookDelivery:
    payload = {"jobId": str(job_id), "status": "completed", "progress": {"percent": 100, "n": [1, 2]}}
    return WebhookDelivery.new(
        agent_id=agent.id, job_id=job_id or uuid.uuid4(), event=WebhookEvent.COMPLETED, payload=payload, now=now
    )


async def add_deliveries(store: Store, *deliveries: WebhookDelivery) -> None:
    async with store.unit_of_work() as uow:
        for delivery in deliveries:
            await uow.deliveries.add(delivery)
        await uow.commit()


async def get_delivery(store: Store, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.deliveries.get(delivery_id)


async def test_webhook_put_get_replace_delete(store: Store) -> None:
    agent, _ = await seed(store)
    hook = Webhook.new(agent_id=agent.id, url="https://hooks.example.com/in", now=T0, events=["failed", "completed"])
    async with store.unit_of_work() as uow:
        assert await uow.webhooks.get(agent.id) is None
        await uow.webhooks.put(hook)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        loaded = await uow.webhooks.get(agent.id)
    assert loaded == hook and all(isinstance(e, WebhookEvent) for e in loaded.events)
    replaced = Webhook.new(
        agent_id=agent.id, url="https://other.example.com/x", now=T0 + timedelta(hours=1), created_at=T0
    )
    async with store.unit_of_work() as uow:
        await uow.webhooks.put(replaced)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.webhooks.get(agent.id) == replaced != hook
        assert await uow.webhooks.delete(agent.id)
        assert not await uow.webhooks.delete(agent.id)
        assert await uow.webhooks.get(agent.id) is None
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.webhooks.get(agent.id) is None


async def test_a_webhook_needs_an_existing_agent(store: Store) -> None:
    hook = Webhook.new(agent_id=uuid.uuid4(), url="https://hooks.example.com/in", now=T0)
    with pytest.raises(StoreError):
        async with store.unit_of_work() as uow:
            await uow.webhooks.put(hook)
            await uow.commit()


async def test_delivery_round_trip_with_every_field(store: Store) -> None:
    agent, _ = await seed(store)
    delivery = make_delivery(agent)
    delivery.claim(T0, worker_id="worker-1", lease=CLAIM, max_attempts=5)
    delivery.last_error = "HTTP 502"
    delivery.last_status_code = 502
    delivery.finished_at = T0 + timedelta(microseconds=7)
    await add_deliveries(store, delivery)
    loaded = await get_delivery(store, delivery.id)
    assert loaded == delivery
    assert loaded is not None and isinstance(loaded.status, DeliveryStatus) and isinstance(loaded.event, WebhookEvent)
    assert loaded.next_attempt_at.utcoffset() == timedelta(0)
    assert await get_delivery(store, uuid.uuid4()) is None


async def test_a_delivery_added_in_a_rolled_back_unit_of_work_is_gone(store: Store) -> None:
    agent, _ = await seed(store)
    delivery = make_delivery(agent)
    async with store.unit_of_work() as uow:
        await uow.deliveries.add(delivery)
        assert await uow.deliveries.get(delivery.id) is not None  # reads its own writes
    assert await get_delivery(store, delivery.id) is None


async def test_delivery_save_is_a_compare_and_set(store: Store) -> None:
    agent, _ = await seed(store)
    delivery = make_delivery(agent)
    await add_deliveries(store, delivery)
    stale = await get_delivery(store, delivery.id)
    async with store.unit_of_work() as uow:
        fresh = await uow.deliveries.get(delivery.id)
        assert fresh is not None
        fresh.claim(T0, worker_id="a", lease=CLAIM, max_attempts=5)
        await uow.deliveries.save(fresh)
        assert fresh.version == 1
        await uow.commit()
    assert stale is not None
    stale.claim(T0, worker_id="b", lease=CLAIM, max_attempts=5)
    with pytest.raises(StaleDelivery):
        async with store.unit_of_work() as uow:
            await uow.deliveries.save(stale)
            await uow.commit()
    stored = await get_delivery(store, delivery.id)
    assert stored is not None and stored.locked_by == "a" and stored.version == 1 and stored.attempts == 1


async def test_due_keeps_open_deliveries_whose_time_has_come_oldest_first(store: Store) -> None:
    agent, _ = await seed(store)
    later = make_delivery(agent, T0 + timedelta(seconds=2))
    first = make_delivery(agent, T0)
    future = make_delivery(agent, T0 + timedelta(hours=1))
    expired_claim = make_delivery(agent, T0 - timedelta(minutes=5))
    expired_claim.claim(T0 - timedelta(minutes=5), worker_id="dead", lease=CLAIM, max_attempts=5)
    live_claim = make_delivery(agent, T0)
    live_claim.claim(T0, worker_id="alive", lease=CLAIM, max_attempts=5)
    done = make_delivery(agent, T0 - timedelta(hours=1))
    done.claim(T0 - timedelta(hours=1), worker_id="w", lease=CLAIM, max_attempts=5)
    done.succeed(T0 - timedelta(hours=1), 200)
    await add_deliveries(store, later, first, future, expired_claim, live_claim, done)
    now = T0 + timedelta(seconds=10)
    async with store.unit_of_work(read_only=True) as uow:
        due = await uow.deliveries.due(now, limit=10)
        assert [d.id for d in due] == [expired_claim.id, first.id, later.id]
        assert [d.id for d in await uow.deliveries.due(now, limit=2)] == [expired_claim.id, first.id]


async def claim_due(store: Store, now: datetime, worker: str, limit: int) -> list[uuid.UUID]:
    async with store.unit_of_work() as uow:
        mine = await uow.deliveries.due(now, limit=limit, lock=True)
        for delivery in mine:
            delivery.claim(now, worker_id=worker, lease=CLAIM, max_attempts=5)
            await uow.deliveries.save(delivery)
        await uow.commit()
    return [d.id for d in mine]


async def test_concurrent_claimers_take_disjoint_batches_without_waiting_for_each_other(
    store: Store, store_url: str | None
) -> None:
    agent, _ = await seed(store)
    deliveries = [make_delivery(agent, T0 + timedelta(milliseconds=i)) for i in range(5)]
    await add_deliveries(store, *deliveries)
    now = T0 + timedelta(seconds=1)
    one_writer = store_url is not None and store_url.startswith("sqlite")
    async with store.unit_of_work() as first:
        mine = await first.deliveries.due(now, limit=2, lock=True)
        # Another claimer runs while the first holds its rows: PostgreSQL and memory skip
        # them and finish; SQLite makes it wait for the first's commit (one writer at a
        # time), after which those rows are no longer due.
        other = asyncio.create_task(claim_due(store, now, "b", limit=10))
        for _ in range(10 if one_writer else 250):
            await asyncio.sleep(0.02)
            if other.done():
                break
        assert other.done() is not one_writer
        for delivery in mine:
            delivery.claim(now, worker_id="a", lease=CLAIM, max_attempts=5)
            await first.deliveries.save(delivery)
        await first.commit()
    theirs = await asyncio.wait_for(other, 15)
    assert len(mine) == 2 and not {d.id for d in mine} & set(theirs)
    assert {d.id for d in mine} | set(theirs) == {d.id for d in deliveries}
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.deliveries.due(now, limit=10) == []


async def test_many_claimers_send_each_delivery_once(store: Store) -> None:
    agent, _ = await seed(store)
    deliveries = [make_delivery(agent, T0 + timedelta(milliseconds=i)) for i in range(12)]
    await add_deliveries(store, *deliveries)
    now = T0 + timedelta(seconds=1)
    claimed = await asyncio.gather(*(claim_due(store, now, f"w{i}", limit=3) for i in range(6)))
    flat = [d for batch in claimed for d in batch]
    assert len(flat) == len(set(flat)) == 12


async def test_deliveries_page_newest_first_filtered_by_status(store: Store) -> None:
    agent, _ = await seed(store)
    other_agent = make_agent(name="other")
    async with store.unit_of_work() as uow:
        await uow.agents.add(other_agent)
        await uow.commit()
    deliveries = [make_delivery(agent, T0 + timedelta(seconds=i // 2)) for i in range(7)]
    deliveries[0].claim(T0, worker_id="w", lease=CLAIM, max_attempts=5)
    deliveries[0].give_up(T0, "HTTP 410")
    await add_deliveries(store, *deliveries, make_delivery(other_agent))
    seen: list[uuid.UUID] = []
    cursor = None
    async with store.unit_of_work(read_only=True) as uow:
        while True:
            page = await uow.deliveries.list(agent.id, PageRequest(limit=3, cursor=cursor))
            seen += [d.id for d in page.items]
            if page.next_cursor is None:
                break
            cursor = Cursor.decode(page.next_cursor)
        failed = await uow.deliveries.list(agent.id, PageRequest(limit=10), status=DeliveryStatus.FAILED)
    expected = sorted(deliveries, key=lambda d: (d.created_at, d.id), reverse=True)
    assert seen == [d.id for d in expected]
    assert [d.id for d in failed.items] == [deliveries[0].id]


async def test_delete_finished_deliveries_in_bounded_batches(store: Store) -> None:
    agent, _ = await seed(store)
    finished = []
    for i in range(5):
        delivery = make_delivery(agent)
        delivery.claim(T0, worker_id="w", lease=CLAIM, max_attempts=5)
        at = T0 + timedelta(minutes=i)
        delivery.succeed(at, 200) if i % 2 else delivery.give_up(at, "HTTP 500")
        finished.append(delivery)
    recent = make_delivery(agent)
    recent.claim(T0, worker_id="w", lease=CLAIM, max_attempts=5)
    recent.succeed(T0 + timedelta(days=1), 204)
    pending, sending = make_delivery(agent), make_delivery(agent)
    sending.claim(T0, worker_id="w", lease=CLAIM, max_attempts=5)
    await add_deliveries(store, *finished, recent, pending, sending)
    batches = []
    async with store.unit_of_work() as uow:
        while batch := await uow.deliveries.delete_finished_before(T0 + timedelta(hours=1), limit=3):
            batches.append(batch)
        await uow.commit()
    assert batches == [3, 2]
    for delivery in finished:
        assert await get_delivery(store, delivery.id) is None
    for delivery in (recent, pending, sending):
        assert await get_delivery(store, delivery.id) is not None


async def test_deliveries_outlive_their_job_but_not_their_agent(store: Store) -> None:
    agent, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    delivery = make_delivery(agent, job_id=job.id)
    await add_deliveries(store, delivery)
    async with store.unit_of_work() as uow:
        await uow.webhooks.put(Webhook.new(agent_id=agent.id, url="https://hooks.example.com/in", now=T0))
        await uow.sources.delete(source.id)  # its jobs go (cascade)
        await uow.commit()
    assert await get_job(store, job.id) is None
    assert await get_delivery(store, delivery.id) is not None
    async with store.unit_of_work() as uow:
        await uow.agents.delete(agent.id)
        await uow.commit()
    assert await get_delivery(store, delivery.id) is None
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.webhooks.get(agent.id) is None


async def test_a_delivery_needs_an_existing_agent(store: Store) -> None:
    with pytest.raises(StoreError):
        await add_deliveries(store, make_delivery(make_agent()))


# -- API keys and idempotency records ----------------------------------------------------------


async def test_api_key_found_by_its_hash_and_revoked_per_agent(store: Store) -> None:
    agent, _ = await seed(store)
    first, first_secret = ApiKey.issue(agent.id, T0)
    second, _ = ApiKey.issue(agent.id, T0 + timedelta(seconds=1))
    async with store.unit_of_work() as uow:
        await uow.api_keys.add(first)
        await uow.api_keys.add(second)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.api_keys.find(hash_api_key(first_secret)) == first
        assert await uow.api_keys.find(hash_api_key("slk_unknown")) is None
    async with store.unit_of_work() as uow:
        assert await uow.api_keys.delete_for_agent(agent.id) == 2
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.api_keys.find(first.key_hash) is None
        assert await uow.api_keys.find(second.key_hash) is None


async def test_an_api_key_hash_is_unique_and_needs_its_agent(store: Store) -> None:
    agent, _ = await seed(store)
    key, _ = ApiKey.issue(agent.id, T0)
    async with store.unit_of_work() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    twin = ApiKey(id=uuid.uuid4(), agent_id=agent.id, key_hash=key.key_hash, created_at=T0)
    with pytest.raises(DuplicateKey):
        async with store.unit_of_work() as uow:
            await uow.api_keys.add(twin)
            await uow.commit()
    orphan, _ = ApiKey.issue(uuid.uuid4(), T0)
    with pytest.raises(StoreError):
        async with store.unit_of_work() as uow:
            await uow.api_keys.add(orphan)
            await uow.commit()


def make_record(source: Source, key: str = "retry-1", now: datetime = T0) -> IdempotencyRecord:
    return IdempotencyRecord(
        agent_id=source.agent_id,
        key=key,
        request_hash="a" * 64,
        source_id=source.id,
        job_id=uuid.uuid4(),
        created_at=now,
    )


async def add_record(store: Store, record: IdempotencyRecord) -> None:
    async with store.unit_of_work() as uow:
        await uow.idempotency.add(record)
        await uow.commit()


async def get_record(store: Store, agent_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.idempotency.get(agent_id, key)


async def test_idempotency_record_round_trip_and_one_per_agent_and_key(store: Store) -> None:
    agent, source = await seed(store)
    record = make_record(source, now=T0 + timedelta(microseconds=3))
    await add_record(store, record)
    assert await get_record(store, agent.id, "retry-1") == record
    assert await get_record(store, agent.id, "retry-2") is None
    with pytest.raises(DuplicateKey):
        await add_record(store, make_record(source))
    other, other_source = await seed(store)
    await add_record(store, make_record(other_source))  # the same key of another agent
    assert (await get_record(store, other.id, "retry-1")) is not None
    async with store.unit_of_work() as uow:
        assert await uow.idempotency.delete(agent.id, "retry-1")
        assert not await uow.idempotency.delete(agent.id, "retry-1")
        await uow.commit()
    assert await get_record(store, agent.id, "retry-1") is None


async def test_racing_first_requests_cannot_both_record_a_key(store: Store) -> None:
    _, source = await seed(store)
    async with store.unit_of_work() as first:
        await first.idempotency.add(make_record(source))
        await first.commit()
    with pytest.raises(DuplicateKey):
        async with store.unit_of_work() as second:
            await second.sources.add(make_source_for(source.agent_id))
            await second.idempotency.add(make_record(source))
            await second.commit()


def make_source_for(agent_id: uuid.UUID) -> Source:
    return Source.new(agent_id=agent_id, name="second", type=SourceType.TEXT, now=T0)


async def test_an_idempotency_record_goes_with_its_source_and_its_agent(store: Store) -> None:
    agent, source = await seed(store)
    second = make_source_for(agent.id)
    async with store.unit_of_work() as uow:
        await uow.sources.add(second)
        await uow.idempotency.add(make_record(source, key="a"))
        await uow.idempotency.add(make_record(second, key="b"))
        await uow.commit()
    async with store.unit_of_work() as uow:
        await uow.sources.delete(source.id)
        await uow.commit()
    assert await get_record(store, agent.id, "a") is None
    assert await get_record(store, agent.id, "b") is not None
    async with store.unit_of_work() as uow:
        await uow.agents.delete(agent.id)
        await uow.commit()
    assert await get_record(store, agent.id, "b") is None


async def test_an_idempotency_record_needs_its_source(store: Store) -> None:
    agent, _ = await seed(store)
    with pytest.raises(StoreError):
        await add_record(store, make_record(make_source_for(agent.id)))


async def test_expired_idempotency_records_are_deleted_in_bounded_batches(store: Store) -> None:
    agent, source = await seed(store)
    for i in range(5):
        await add_record(store, make_record(source, key=f"k{i}", now=T0 + timedelta(hours=i)))
    cutoff = T0 + timedelta(hours=3)  # k0, k1, k2 are older
    async with store.unit_of_work() as uow:
        assert await uow.idempotency.delete_created_before(cutoff, limit=2) == 2
        await uow.commit()
    assert await get_record(store, agent.id, "k0") is None and await get_record(store, agent.id, "k1") is None
    async with store.unit_of_work() as uow:
        assert await uow.idempotency.delete_created_before(cutoff, limit=10) == 1
        await uow.commit()
    remaining = [await get_record(store, agent.id, f"k{i}") for i in range(5)]
    assert [r is not None for r in remaining] == [False, False, False, True, True]


# -- availability ----------------------------------------------------------------------------


async def test_ping(store: Store) -> None:
    await store.ping()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_postgres_on_a_closed_port_is_unavailable() -> None:
    store = SqlAlchemyStore(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/sluice")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        assert caught.value.__cause__ is not None
        with pytest.raises(StoreUnavailable):
            async with store.unit_of_work() as uow:
                await uow.jobs.get(uuid.uuid4())
    finally:
        await store.close()


async def test_sqlite_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    store = SqlAlchemyStore(f"sqlite+aiosqlite:///{folder}")
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()
    # aiosqlite stops the thread of a failed connection without awaiting it; let it
    # finish while this test's event loop is still open to receive its answer.
    await asyncio.sleep(0.1)


async def test_memory_save_waits_for_the_other_unit_of_work_then_times_out() -> None:
    store = MemoryStore(lock_timeout_seconds=0.05)
    _, source = await seed(store)
    job = make_job(source)
    await add_jobs(store, job)
    async with store.unit_of_work() as holder:
        mine = job.copy()
        await holder.jobs.save(mine)
        with pytest.raises(StoreUnavailable):
            async with store.unit_of_work() as other:
                await other.jobs.save(job.copy())
    # The lock went with the holder's unit of work (which rolled back).
    async with store.unit_of_work() as uow:
        await uow.jobs.save(job.copy())
        await uow.commit()


async def test_urls_without_an_async_driver_get_one(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    await upgrade_async(f"sqlite:///{path}")
    store = SqlAlchemyStore(f"sqlite:///{path}")
    try:
        await store.ping()
    finally:
        await store.close()
    assert parse_url("postgres://u:p@db.example:5432/sluice").drivername == "postgresql+asyncpg"
    assert parse_url("postgresql://db/sluice").drivername == "postgresql+asyncpg"


async def test_sqlite_creates_the_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "sluice.db"
    await upgrade_async(f"sqlite+aiosqlite:///{path}")
    store = SqlAlchemyStore(f"sqlite+aiosqlite:///{path}")
    try:
        await store.ping()
        async with store.unit_of_work() as uow:
            await uow.agents.add(make_agent())
            await uow.commit()
    finally:
        await store.close()
    assert path.exists()


async def test_unmigrated_database_is_an_error_not_an_outage(tmp_path: Path) -> None:
    store = SqlAlchemyStore(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StoreError) as caught:
            async with store.unit_of_work(read_only=True) as uow:
                await uow.agents.get(uuid.uuid4())
        assert not isinstance(caught.value, StoreUnavailable)
    finally:
        await store.close()


async def test_postgres_recovers_when_its_connections_are_killed(postgres_url: str) -> None:
    store = SqlAlchemyStore(postgres_url)
    try:
        agent = make_agent()
        async with store.unit_of_work() as uow:
            await uow.agents.add(agent)
            await uow.commit()
        # Pooled connections die (as in a server restart): the next use must not fail.
        await _kill_connections(postgres_url)
        await store.ping()
        # A connection that dies in the middle of a unit of work surfaces as StoreUnavailable...
        with pytest.raises(StoreUnavailable):
            async with store.unit_of_work(read_only=True) as uow:
                await uow.agents.get(agent.id)
                await _kill_connections(postgres_url)
                await uow.agents.get(agent.id)
        # ...and the store carries on without being rebuilt.
        async with store.unit_of_work(read_only=True) as uow:
            assert await uow.agents.get(agent.id) == agent
    finally:
        await store.close()


async def _kill_connections(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()


# -- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_migrated_schema_matches_the_tables(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"
        await upgrade_async(url)
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_schema_diff)
            indexes = await connection.run_sync(_index_names)
    finally:
        await engine.dispose()
    assert diff == []
    # SQLite cannot reflect expression indexes (compare_metadata skips them): look it up.
    assert "ix_jobs_pending_dispatch" in indexes


def _schema_diff(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    expected_warning = (
        pytest.warns(match="expression-based index")
        if connection.dialect.name == "sqlite"
        else contextlib.nullcontext()
    )
    with expected_warning:
        return list(compare_metadata(context, metadata))


def _index_names(connection: sa.Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        rows = connection.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        return {row[0] for row in rows}
    return {str(index["name"]) for index in sa.inspect(connection).get_indexes("jobs")}


async def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"
    await upgrade_async(url)
    await upgrade_async(url)


def test_upgrade_from_synchronous_code(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    upgrade(f"sqlite+aiosqlite:///{path}")  # as ``sluice migrate`` will call it
    with sqlite3.connect(path) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == "0003"
