"""The use cases, driven through their public entry with in-memory adapters."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence

import pytest

from adapters.hashing.embedder import HashingEmbedder
from adapters.memory.blobs import MemoryBlobStore
from adapters.memory.clock import FakeClock, FixedRandom
from adapters.memory.notifier import MemoryNotifier
from adapters.memory.queue import MemoryJobQueue
from adapters.memory.store import MemoryStore
from adapters.memory.vectors import MemoryVectorIndex
from adapters.tiktoken.measure import TiktokenMeasure
from domain.errors import IllegalTransition, InvalidInput, LimitExceeded, NotFound, PermanentError, TransientError
from domain.jobs import JobStatus
from domain.pagination import PageRequest
from domain.retry import RetryPolicy
from domain.services.agents import AgentService
from domain.services.deps import Limits, Ports, ServiceConfig
from domain.services.jobs import JobService
from domain.services.maintenance import Maintenance
from domain.services.runner import JobRunner
from domain.services.search import SearchService
from domain.services.sources import SourceService
from domain.sources import ChunkingOptions, ChunkUnit
from domain.vectors import source_prefix
from ports.embed import Embeddings

PARAGRAPHS = [
    "Rust's ownership model guarantees memory safety without a garbage collector.",
    "The borrow checker enforces that references never outlive the data they point to.",
    "Cargo is the package manager: it builds code, downloads crates and runs tests.",
    "Pattern matching with match expressions must be exhaustive over every variant.",
    "Traits define shared behaviour, similar to interfaces in other languages.",
]


def long_text(repeat: int) -> str:
    return "\n\n".join(f"Section {i}. " + PARAGRAPHS[i % len(PARAGRAPHS)] for i in range(repeat))


class FlakyEmbedder:
    """Wraps an embedder; raises the given errors on the first calls."""

    def __init__(self, inner: HashingEmbedder, errors: Sequence[Exception] = ()) -> None:
        self.inner = inner
        self.errors = list(errors)
        self.calls = 0
        self.before_call = None
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.batch_size = 4
        self.batch_tokens: int | None = None
        self.batches: list[list[str]] = []

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        self.calls += 1
        self.batches.append(list(texts))
        if self.before_call is not None:
            await self.before_call(self.calls)
        if self.errors:
            raise self.errors.pop(0)
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str):
        return await self.inner.embed_query(text)

    async def close(self) -> None:
        pass


class World:
    def __init__(self, *, max_attempts: int = 3, max_text_bytes: int = 1 << 20) -> None:
        self.clock = FakeClock()
        self.embedder = FlakyEmbedder(HashingEmbedder())
        self.vectors = MemoryVectorIndex()
        self.queue = MemoryJobQueue(self.clock)
        self.notifier = MemoryNotifier()
        self.ports = Ports(
            store=MemoryStore(),
            queue=self.queue,
            blobs=MemoryBlobStore(),
            embedder=self.embedder,
            vectors=self.vectors,
            notifier=self.notifier,
            clock=self.clock,
            random=FixedRandom(1.0),
            token_measure=TiktokenMeasure(),
        )
        self.config = ServiceConfig(
            chunking=ChunkingOptions(size=64, overlap=8),
            max_attempts=max_attempts,
            retry=RetryPolicy(base_seconds=2, cap_seconds=60),
            limits=Limits(max_text_bytes=max_text_bytes),
            worker_id="test-worker",
            step_tries=3,
            step_retry_seconds=0.001,
        )
        self.agents = AgentService(self.ports, self.config)
        self.sources = SourceService(self.ports, self.config)
        self.jobs = JobService(self.ports)
        self.search = SearchService(self.ports, self.config)
        self.runner = JobRunner(self.ports, self.config, heartbeat_seconds=3600)
        self.maintenance = Maintenance(self.ports, self.config)

    async def drain(self) -> int:
        return await self.queue.drain(self.runner.run)

    async def vector_count(self, agent, source_id) -> int:
        return len(await self.vectors.list_ids(agent.namespace, source_prefix(source_id)))


@pytest.fixture
def world() -> World:
    return World()


async def test_text_source_is_processed_end_to_end_and_searchable(world: World):
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(20), name="rust notes")
    assert source.latest_job_id == job.id and job.status is JobStatus.PENDING and job.priority == 10
    assert await world.queue.depth() == 1

    assert await world.drain() == 1
    job = await world.jobs.get_job(job.id)
    source = await world.sources.get_source(agent.id, source.id)
    assert job.status is JobStatus.COMPLETED and job.attempts == 1
    assert job.progress["percent"] == 100 and job.result["chunks"] == source.chunk_count > 1
    assert source.status is JobStatus.COMPLETED
    assert await world.vector_count(agent, source.id) == source.chunk_count

    hits = await world.search.search(agent.id, "borrow checker references outlive", top_k=3)
    assert "borrow checker" in hits[0].text and hits[0].source_name == "rust notes"
    assert hits[0].metadata["agent_id"] == str(agent.id) and hits[0].metadata["namespace"] == agent.namespace
    stats = await world.agents.stats(agent)
    assert stats.vectors == stats.chunks == source.chunk_count and stats.sources == 1
    assert stats.jobs_by_status["completed"] == 1


async def test_events_tell_the_whole_story_in_order(world: World):
    agent = await world.agents.create_agent("docs")
    async with world.notifier.subscribe([f"agent_{agent.id}"]) as events:
        _, job = await world.sources.create_text_source(agent.id, long_text(30))
        await world.drain()
        seen = []
        async with asyncio.timeout(1):
            async for event in events:
                seen.append(event)
                if event.is_terminal:
                    break
    statuses = [e.status for e in seen]
    assert statuses[0] == "pending" and statuses[1] == "processing" and statuses[-1] == "completed"
    progress = [e.progress.get("percent", 0) for e in seen if e.status == "processing"]
    assert progress == sorted(progress) and len(progress) > 3
    assert all(e.job_id == str(job.id) for e in seen)


async def test_reprocessing_with_fewer_chunks_leaves_exactly_the_new_count(world: World):
    agent = await world.agents.create_agent("docs")
    source, _ = await world.sources.create_text_source(
        agent.id, long_text(40), chunking=ChunkingOptions(size=32, overlap=0)
    )
    await world.drain()
    before = (await world.sources.get_source(agent.id, source.id)).chunk_count
    # Same source, bigger chunks: fewer of them.
    async with world.ports.store.unit_of_work() as uow:
        stored = await uow.sources.get(source.id)
        stored.options["chunking"] = ChunkingOptions(size=256, overlap=0).to_dict()
        await uow.sources.save(stored)
        await uow.commit()
    _, job = await world.sources.reprocess_source(agent.id, source.id)
    await world.drain()
    after = (await world.sources.get_source(agent.id, source.id)).chunk_count
    assert (await world.jobs.get_job(job.id)).status is JobStatus.COMPLETED
    assert after < before
    assert await world.vector_count(agent, source.id) == after


async def test_reprocess_refuses_while_a_job_is_active(world: World):
    agent = await world.agents.create_agent("docs")
    source, _ = await world.sources.create_text_source(agent.id, "some text")
    with pytest.raises(Exception, match="active job"):
        await world.sources.reprocess_source(agent.id, source.id)


async def test_a_one_off_transient_error_is_retried_in_place(world: World):
    world.embedder.errors = [TransientError("connection reset")]
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, long_text(3))
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED and job.attempts == 1
    assert world.embedder.calls >= 2


async def test_transient_failure_is_retried_with_backoff(world: World):
    # Fails every try of one attempt (3 tries in place), then works.
    world.embedder.errors = [TransientError("embedding service timed out")] * 3
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(3))
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.PENDING and job.attempts == 1
    assert job.error_message == "embedding service timed out"
    # rnd=1.0 and base 2 s: the first retry waits exactly the full ceiling.
    assert (job.scheduled_for - world.clock.now()).total_seconds() == pytest.approx(2.0)
    assert await world.drain() == 0
    world.clock.advance(2)
    assert await world.drain() == 1
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED and job.attempts == 2 and job.error_message is None
    assert await world.vector_count(agent, source.id) == job.result["chunks"]


async def test_an_error_the_adapter_already_retried_is_not_retried_in_place(world: World):
    world.embedder.errors = [TransientError("rate limited (gave up after 6 attempts)", retried=True)]
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, long_text(3))
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.PENDING and job.attempts == 1 and world.embedder.calls == 1
    assert job.error_message == "rate limited (gave up after 6 attempts)"


async def test_batches_are_cut_at_the_embedders_token_budget(world: World):
    world.embedder.batch_size = 1000
    world.embedder.batch_tokens = 200
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, long_text(40))
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED
    count = TiktokenMeasure().count
    sizes = [sum(count(t) for t in batch) for batch in world.embedder.batches]
    assert len(sizes) > 3 and all(size <= 200 for size in sizes)
    # Each batch was cut only when the next chunk would not fit.
    firsts = [count(batch[0]) for batch in world.embedder.batches[1:]]
    assert all(size + first > 200 for size, first in zip(sizes, firsts, strict=False))


async def test_attempts_run_out_then_the_job_fails_with_the_last_error(world: World):
    world.embedder.errors = [TransientError(f"timeout {i}") for i in range(9)]
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(3))
    for _ in range(3):
        await world.drain()
        world.clock.advance(120)
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error_message == "timeout 8 (gave up after 3 attempts)"
    source = await world.sources.get_source(agent.id, source.id)
    assert source.status is JobStatus.FAILED and source.error_message == job.error_message


async def test_permanent_failure_fails_at_once_and_leaves_no_vectors(world: World):
    calls = {"n": 0}

    async def fail_on_second(n: int) -> None:
        calls["n"] = n
        if n == 2:
            raise PermanentError("model rejected the input")

    world.embedder.before_call = fail_on_second
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(30))
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.FAILED and job.attempts == 1 and job.error_message == "model rejected the input"
    assert await world.vector_count(agent, source.id) == 0


class FailingMeasure(TiktokenMeasure):
    """Tokens, until the chunker measures the ``fail_at``-th text in one pass (a section)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.sections = 0
        self.fail_at = fail_at

    def prefix_sizes(self, text: str):
        self.sections += 1
        if self.sections == self.fail_at:
            raise PermanentError("the chunker gave up")
        return super().prefix_sizes(text)


async def test_a_failure_while_chunking_a_later_section_stops_the_stages_and_leaves_no_vectors():
    world = World()
    world.config = dataclasses.replace(world.config, max_section_chars=400)
    measure = FailingMeasure(fail_at=4)
    world.ports = dataclasses.replace(world.ports, token_measure=measure)
    world.sources = SourceService(world.ports, world.config)
    world.runner = JobRunner(world.ports, world.config, heartbeat_seconds=3600)
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(40))
    await asyncio.wait_for(world.drain(), 10)
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.FAILED and job.error_message == "the chunker gave up"
    assert world.embedder.calls >= 1  # earlier sections were embedded (and stored) first
    assert await world.vector_count(agent, source.id) == 0


async def test_batches_are_embedded_and_stored_in_chunk_order_across_sections():
    world = World()
    world.config = dataclasses.replace(world.config, max_section_chars=300)
    world.sources = SourceService(world.ports, world.config)
    world.runner = JobRunner(world.ports, world.config, heartbeat_seconds=3600)
    stored: list[list[str]] = []
    upsert = world.vectors.upsert

    async def slow_upsert(namespace, records):
        await asyncio.sleep(0.001)  # the other stages run ahead meanwhile
        stored.append([r.id for r in records])
        await upsert(namespace, records)

    world.vectors.upsert = slow_upsert  # type: ignore[method-assign]
    agent = await world.agents.create_agent("docs")
    text = long_text(40)
    source, job = await world.sources.create_text_source(agent.id, text)
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED and job.result["sections"] > 3
    ids = [vid for batch in stored for vid in batch]
    assert ids == [f"{source.id}#{i}" for i in range(job.result["chunks"])]
    assert all(len(batch) <= world.embedder.batch_size for batch in stored)
    texts = [t for batch in world.embedder.batches for t in batch]
    matches = await world.vectors.query(agent.namespace, (await world.embedder.embed_query(texts[-1])), top_k=1)
    assert matches[0].metadata["text"] == texts[-1] and matches[0].metadata["chunk_index"] == len(ids) - 1


async def test_unexpected_exception_is_retried_and_named(world: World):
    world.embedder.errors = [KeyError("boom")]
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, "hello world")
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.PENDING and "internal error (KeyError" in job.error_message


async def test_cancel_pending_then_retry(world: World):
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(3))
    job = await world.jobs.cancel_job(job.id)
    assert job.status is JobStatus.CANCELLED
    assert (await world.sources.get_source(agent.id, source.id)).status is JobStatus.CANCELLED
    assert await world.drain() == 1  # the delivery is a no-op
    assert (await world.jobs.get_job(job.id)).status is JobStatus.CANCELLED
    with pytest.raises(IllegalTransition):
        await world.jobs.cancel_job(job.id)
    job = await world.jobs.retry_job(job.id)
    assert job.status is JobStatus.PENDING and job.attempts == 0
    await world.drain()
    assert (await world.jobs.get_job(job.id)).status is JobStatus.COMPLETED
    with pytest.raises(IllegalTransition):
        await world.jobs.retry_job(job.id)


async def test_cancel_while_processing_stops_at_the_next_batch_and_removes_vectors(world: World):
    # Every progress report saved: the save after the batch in flight finds the cancel.
    world.runner = JobRunner(world.ports, world.config, heartbeat_seconds=3600, progress_seconds=0)
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(60))

    async def cancel_midway(n: int) -> None:
        if n == 3:
            await world.jobs.cancel_job(job.id)

    world.embedder.before_call = cancel_midway
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.CANCELLED
    assert world.embedder.calls == 3
    assert await world.vector_count(agent, source.id) == 0
    assert (await world.sources.get_source(agent.id, source.id)).chunk_count == 0


async def test_cancel_noticed_only_by_the_outcome_save_still_removes_vectors(world: World):
    # Progress saved at most twice a second: a job this quick meets the cancel at its
    # outcome's compare-and-set, after writing every batch, and must clean up there.
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(60))

    async def cancel_midway(n: int) -> None:
        if n == 3:
            await world.jobs.cancel_job(job.id)

    world.embedder.before_call = cancel_midway
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.CANCELLED and job.locked_by is None
    assert world.embedder.calls > 3
    assert await world.vector_count(agent, source.id) == 0
    assert (await world.sources.get_source(agent.id, source.id)).chunk_count == 0


async def test_delete_source_while_processing_leaves_nothing(world: World):
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(60))

    async def delete_midway(n: int) -> None:
        if n == 2:
            await world.sources.delete_source(agent.id, source.id)

    world.embedder.before_call = delete_midway
    await world.drain()
    assert await world.vector_count(agent, source.id) == 0
    with pytest.raises(NotFound):
        await world.sources.get_source(agent.id, source.id)
    with pytest.raises(NotFound):
        await world.jobs.get_job(job.id)
    assert not await world.ports.blobs.exists(source.blob_key)


async def test_a_crashed_worker_loses_its_lease_and_the_job_is_rerun(world: World):
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(30))

    class Crash(BaseException):
        pass

    async def crash(n: int) -> None:
        if n == 2:
            raise Crash  # like SIGKILL: nothing after this point runs

    world.embedder.before_call = crash
    with pytest.raises(Crash):
        await world.drain()
    world.embedder.before_call = None
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.PROCESSING and job.attempts == 1
    assert await world.maintenance.reclaim_expired() == (0, 0)  # lease still valid
    world.clock.advance(world.config.lease_seconds)
    assert await world.maintenance.reclaim_expired() == (1, 0)
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.PENDING and "stopped responding" in job.error_message
    await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED and job.attempts == 2
    assert await world.vector_count(agent, source.id) == job.result["chunks"]


async def test_a_worker_that_dies_after_a_cancel_is_cleaned_up_after(world: World):
    agent = await world.agents.create_agent("docs")
    source, job = await world.sources.create_text_source(agent.id, long_text(60))

    class Crash(BaseException):
        pass

    async def cancel_then_die(n: int) -> None:
        if n == 3:
            await world.jobs.cancel_job(job.id)
            raise Crash

    world.embedder.before_call = cancel_then_die
    with pytest.raises(Crash):
        await world.drain()
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.CANCELLED and job.cleanup_owed
    assert await world.vector_count(agent, source.id) > 0  # what the dead worker wrote
    world.clock.advance(world.config.lease_seconds)
    await world.maintenance.reclaim_expired()
    job = await world.jobs.get_job(job.id)
    assert not job.cleanup_owed and job.status is JobStatus.CANCELLED
    assert await world.vector_count(agent, source.id) == 0
    assert (await world.sources.get_source(agent.id, source.id)).chunk_count == 0


async def test_two_deliveries_of_one_job_run_it_once(world: World):
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, long_text(5))
    results = await asyncio.gather(world.runner.run(job.id), world.runner.run(job.id))
    assert sorted(r is None for r in results) == [False, True]
    assert (await world.jobs.get_job(job.id)).attempts == 1


async def test_reconciler_dispatches_orphans_after_a_lost_dispatch(world: World):
    agent = await world.agents.create_agent("docs")
    _, job = await world.sources.create_text_source(agent.id, "lost ticket")
    world.queue._tickets.clear()  # the queue lost it (restart, outage)
    assert await world.drain() == 0
    report = await world.maintenance.reconcile(grace_seconds=30)
    assert report.dispatched == 0  # too young to call orphaned
    world.clock.advance(31)
    report = await world.maintenance.reconcile(grace_seconds=30)
    assert report.dispatched == 1
    await world.drain()
    assert (await world.jobs.get_job(job.id)).status is JobStatus.COMPLETED


async def test_cleanup_deletes_old_finished_jobs_only(world: World):
    agent = await world.agents.create_agent("docs")
    _, old = await world.sources.create_text_source(agent.id, "old")
    await world.drain()
    world.clock.advance(8 * 86400)
    _, fresh = await world.sources.create_text_source(agent.id, "fresh")
    await world.drain()
    _, waiting = await world.sources.create_text_source(agent.id, "waiting")
    assert await world.maintenance.cleanup() == 1
    with pytest.raises(NotFound):
        await world.jobs.get_job(old.id)
    assert (await world.jobs.get_job(fresh.id)).status is JobStatus.COMPLETED
    assert (await world.jobs.get_job(waiting.id)).status is JobStatus.PENDING


async def test_listing_is_newest_first_paginated_and_filtered(world: World):
    agent = await world.agents.create_agent("docs")
    ids = []
    for i in range(7):
        _, job = await world.sources.create_text_source(agent.id, f"text {i}")
        ids.append(job.id)
        world.clock.advance(1)
    await world.jobs.cancel_job(ids[0])
    seen = []
    cursor = None
    while True:
        page = await world.jobs.list_jobs(agent.id, PageRequest(limit=3, cursor=cursor))
        seen += [j.id for j in page.items]
        if page.next_cursor is None:
            break
        cursor = PageRequest.parse(3, page.next_cursor).cursor
    assert seen == ids[::-1]
    cancelled = await world.jobs.list_jobs(agent.id, PageRequest(), status=JobStatus.CANCELLED)
    assert [j.id for j in cancelled.items] == [ids[0]]


async def test_search_never_shows_vectors_of_a_deleted_source(world: World):
    agent = await world.agents.create_agent("docs")
    source, _ = await world.sources.create_text_source(agent.id, "orphaned lighthouse keeper notes")
    await world.drain()
    async with world.ports.store.unit_of_work() as uow:  # gone from the table, vectors left behind
        await uow.sources.delete(source.id)
        await uow.commit()
    assert await world.search.search(agent.id, "lighthouse keeper") == []
    assert await world.vector_count(agent, source.id) == 0


async def test_agents_cannot_reach_each_other(world: World):
    a = await world.agents.create_agent("a")
    b = await world.agents.create_agent("b")
    source, job = await world.sources.create_text_source(a.id, "secret plans of agent a")
    await world.drain()
    with pytest.raises(NotFound):
        await world.sources.get_source(b.id, source.id)
    with pytest.raises(NotFound):
        await world.sources.delete_source(b.id, source.id)
    with pytest.raises(NotFound):
        await world.jobs.get_job(job.id, agent_id=b.id)
    with pytest.raises(NotFound):
        await world.jobs.list_jobs(b.id, PageRequest(), source_id=source.id)
    assert await world.search.search(b.id, "secret plans") == []
    assert len(await world.search.search(a.id, "secret plans")) == 1


async def test_a_source_for_a_missing_agent_is_refused_and_leaves_no_content(world: World):
    with pytest.raises(NotFound):
        await world.sources.create_text_source(uuid.uuid4(), "notes for nobody")
    assert world.ports.blobs._blobs == {}  # type: ignore[attr-defined]
    assert await world.queue.depth() == 0


async def test_bad_input_is_refused_with_a_clear_error(world: World):
    agent = await world.agents.create_agent("docs")
    with pytest.raises(InvalidInput):
        await world.sources.create_text_source(agent.id, "   \n ")
    with pytest.raises(LimitExceeded) as exc:
        await world.sources.create_text_source(agent.id, "x" * (2 << 20))
    assert exc.value.limit == "max_text_bytes"
    with pytest.raises(NotFound):
        await world.sources.create_text_source(uuid.uuid4(), "text")
    with pytest.raises(LimitExceeded):
        await world.search.search(agent.id, "q", top_k=1000)
    with pytest.raises(InvalidInput):
        await world.search.search(agent.id, " ")
    with pytest.raises(InvalidInput):
        ChunkingOptions(size=100, overlap=100)


async def test_character_chunking_per_source(world: World):
    agent = await world.agents.create_agent("docs")
    await world.sources.create_text_source(
        agent.id, long_text(10), chunking=ChunkingOptions(size=100, overlap=10, unit=ChunkUnit.CHARACTERS)
    )
    await world.drain()
    hits = await world.search.search(agent.id, "cargo crates", top_k=100)
    assert hits and all(len(h.text) <= 100 for h in hits)


async def test_delete_agent_removes_everything(world: World):
    agent = await world.agents.create_agent("docs")
    await world.sources.create_text_source(agent.id, long_text(5))
    await world.drain()
    await world.sources.create_text_source(agent.id, "pending one")
    await world.agents.delete_agent(agent.id)
    assert await world.vectors.count(agent.namespace) == 0
    with pytest.raises(NotFound):
        await world.agents.get_agent(agent.id)
