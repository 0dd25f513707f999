"""Running one job: claim it, extract, chunk, embed, upsert, finish — or fail well.

At-least-once with idempotent effects: vector ids are ``{source_id}#{chunk_index}``,
so a re-run (after a crash, a retry or a re-process) overwrites instead of duplicating,
and the ids past the new chunk count are removed only after the new ones are written.
Every save of the job is a compare-and-set: when it fails, someone else changed the
job (a cancel, a source deletion, a reclaim after a lost lease) and this run stops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from domain import logcontext
from domain.agents import Agent
from domain.chunking import Chunk, chunk_text
from domain.documents import Section
from domain.errors import JobCancelled, PermanentError, SluiceError, StaleJob, TransientError
from domain.jobs import Job, JobStatus
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import clean_up_cancelled
from domain.services.outbox import record_outcome
from domain.services.reader import read_sections
from domain.sources import Source
from domain.vectors import VectorRecord, chunk_metadata, parse_vector_id, source_prefix, vector_id

if TYPE_CHECKING:
    from ports.embed import Embeddings

log = logging.getLogger("sluice.runner")

T = TypeVar("T")

DEFAULT_EMBED_BATCH = 128
# Sections cut at once by a job: two, so one is tokenized while the other is packed.
SECTIONS_AHEAD = 2
# Claims in a row that may lose a compare-and-set (a job changed between its lock and
# its save) before a ticket gives up; the reconciler re-dispatches what is left pending.
CLAIM_TRIES = 3
# The progress a job starts with, written by its claim.
STARTING: dict[str, Any] = {"stage": "extracting", "chunks_total": 0, "chunks_done": 0, "percent": 0}
# Progress is saved to the jobs table at most this often (and by the heartbeat when
# some is left unsaved); every report is still published to subscribers at once.
PROGRESS_SAVE_SECONDS = 0.5


@dataclass(slots=True)
class _Run:
    """The state of one attempt, shared by the pipeline and its heartbeat."""

    job: Job
    source: Source
    agent: Agent
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stopped: JobCancelled | None = None
    wrote_vectors: bool = False
    # What the reader reported (pages_done...), kept in every later progress report.
    extra: dict[str, Any] = field(default_factory=dict)
    # When the job was last saved (monotonic), and whether ``job`` holds progress since.
    saved_at: float = 0.0
    unsaved: bool = False

    def check(self) -> None:
        if self.stopped is not None:
            raise self.stopped


@dataclass(slots=True)
class _Batch:
    """Chunks on their way to the index, in chunk order: vector ids, texts, metadata."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    # How far through the source the last chunk ends, and the tokens of the batch.
    fraction: float = 0.0
    tokens: int = 0


class JobRunner:
    def __init__(
        self,
        ports: Ports,
        config: ServiceConfig,
        *,
        heartbeat_seconds: float | None = None,
        watch_seconds: float = 1.0,
        progress_seconds: float = PROGRESS_SAVE_SECONDS,
    ) -> None:
        self._ports = ports
        self._config = config
        self._heartbeat = heartbeat_seconds or max(0.5, config.lease_seconds / 3)
        # How often a running job looks for a cancel from another process: one cheap
        # read, so that a cancel stops the job within about a second plus one batch.
        self._watch = min(watch_seconds, self._heartbeat)
        self._progress_every = progress_seconds

    @property
    def worker_id(self) -> str:
        return self._config.worker_id

    async def run(self, job_id: uuid.UUID) -> JobStatus | None:
        """Handle one delivery of a job. Returns the state it left the job in, or None
        when the delivery was a no-op (not pending, not due, claimed by another)."""
        run = await self._claim(job_id)
        if run is None:
            return None
        job = run.job
        fields = {"job_id": str(job.id), "source_id": str(job.data_source_id), "agent_id": str(job.agent_id)}
        with logcontext.bound(**fields, attempt=job.attempts, job_type=job.type.value):
            log.info("job %s started (attempt %d/%d)", job.id, job.attempts, job.max_attempts)
            beat = asyncio.create_task(self._beat(run), name=f"sluice-heartbeat-{job.id}")
            try:
                result = await self._process(run)
                await self._save(run, lambda job, source: _complete(job, source, result, self._ports.clock.now()))
                self._ports.telemetry.job_finished(job.type.value, "completed")
                log.info("job %s completed: %s chunks", job.id, result["chunks"])
            except JobCancelled as stop:
                self._ports.telemetry.job_finished(job.type.value, "cancelled")
                await self._stopped(run, stop)
            except Exception as exc:
                await self._failed(run, exc)
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        return run.job.status

    # -- claim and save --------------------------------------------------------------

    async def _claim(self, hint: uuid.UUID) -> _Run | None:
        """Claim the best due job: a ticket only wakes a worker, the jobs table decides.

        Whatever order a queue delivers tickets in (Redis lists are FIFO), a free slot
        always starts the highest-priority due job, oldest first within a priority. One
        transaction takes it: the store hands each concurrent claimer a different job
        (``next_due`` skips jobs locked by another), so workers never queue behind one
        another for the same job; the save is still a compare-and-set.
        """
        now = self._ports.clock.now()
        for _ in range(CLAIM_TRIES):
            async with self._ports.store.unit_of_work() as uow:
                due = await uow.jobs.next_due(now)
                if due is None:
                    break
                job, source, agent = due
                job.start(now, worker_id=self.worker_id, lease=self._config.lease)
                # Saved with the claim, not in a write of its own; a previous attempt's
                # progress would otherwise show until the first progress save.
                job.report_progress(now, dict(STARTING))
                try:
                    await uow.jobs.save(job)
                except StaleJob:
                    continue  # changed between the lock and the save: take the next best
                if source.latest_job_id == job.id:
                    source.follow(job.status, now)
                    await uow.sources.save(source)
                await uow.commit()
            await self._ports.publish(job)
            return _Run(job=job, source=source, agent=agent, saved_at=time.monotonic())
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            hinted = await uow.jobs.get(hint)
        if hinted is not None and hinted.status is JobStatus.PENDING and not hinted.is_due(now):
            # Delivered before its time (a retry moved it later): put it back for then.
            await self._ports.dispatch(hinted)
        return None

    async def _save(self, run: _Run, change: Callable[[Job, Source], None], *, publish: bool = True) -> None:
        """Apply ``change`` to the job (and source) and save both, or find out why not."""
        async with run.lock:
            run.check()
            job = run.job.copy()
            source = dataclasses.replace(run.source)
            change(job, source)
            async with self._ports.store.unit_of_work() as uow:
                try:
                    await uow.jobs.save(job)
                except StaleJob:
                    current = await uow.jobs.get(job.id)
                    run.stopped = _why_stopped(current, self.worker_id)
                    raise run.stopped from None
                # The source is written only when it changed (a progress or lease save
                # leaves it alone); a deleted source took the job with it (cascade).
                changed = source != run.source
                if changed and source.latest_job_id == job.id and not await uow.sources.save(source):
                    run.stopped = JobCancelled("the source was deleted", code="source_deleted")
                    raise run.stopped
                await record_outcome(uow, job, run.job.status)
                await uow.commit()
            run.job, run.source = job, source
            run.saved_at, run.unsaved = time.monotonic(), False
        if publish:
            await self._ports.publish(job)

    async def _beat(self, run: _Run) -> None:
        """Renew the lease; notice a cancel, a deletion or a lost lease meanwhile."""
        renewed = time.monotonic()
        while run.stopped is None:
            await asyncio.sleep(self._watch)
            try:
                if time.monotonic() - renewed >= self._heartbeat:
                    await self._save(
                        run,
                        lambda job, _: job.renew_lease(self._ports.clock.now(), self._config.lease),
                        publish=False,
                    )
                    renewed = time.monotonic()
                elif run.unsaved:
                    # Progress reported since the last save: saving it is the watch too
                    # (the compare-and-set fails if the job was cancelled or taken).
                    await self._save(run, lambda job, _: None, publish=False)
                else:
                    await self._watch_once(run)
            except JobCancelled:
                return
            except Exception:
                log.warning("heartbeat of job %s failed; will try again", run.job.id, exc_info=True)

    async def _watch_once(self, run: _Run) -> None:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            current = await uow.jobs.get(run.job.id)
        if current is None or current.status is not JobStatus.PROCESSING or current.locked_by != self.worker_id:
            run.stopped = _why_stopped(current, self.worker_id)

    async def _progress(self, run: _Run, **progress: Any) -> None:
        """Report progress: published at once, saved at most every ``progress_seconds``.

        A report not saved stays in ``run.job``, so the next save of any kind (a later
        report, the heartbeat, the outcome) writes it: a job that finishes at once is
        saved twice (claim, outcome), a long one about twice a second.
        """
        merged = {**run.extra, **progress}
        if merged == run.job.progress:
            return  # nothing new (the claim saved and published the starting progress)
        if time.monotonic() - run.saved_at >= self._progress_every:
            await self._save(run, lambda job, _: job.report_progress(self._ports.clock.now(), merged))
            return
        async with run.lock:
            run.check()
            run.job.report_progress(self._ports.clock.now(), merged)
            run.unsaved = True
        await self._ports.publish(run.job)

    # -- the pipeline ----------------------------------------------------------------

    async def _process(self, run: _Run) -> dict[str, Any]:
        """Read, chunk, embed and store, as three stages that overlap.

        Chunking the next part of the source runs while the previous batch is embedded,
        and embedding the next batch while the previous one is written: each stage works
        in its own thread (the chunker's tokenizer and SQLite release the GIL), so a
        second core is used. Batches are still written in order, one at a time.
        """
        started = time.monotonic()
        source, agent = run.source, run.agent
        options = source.chunking(self._config.chunking)
        measure = self._ports.measure(options.unit)
        user_meta = dict(source.options.get("metadata") or {})
        embedder = self._ports.embedder
        batch_size = self._config.embed_batch_size or embedder.batch_size or DEFAULT_EMBED_BATCH
        # An embedder that bills by the request (OpenAI) says how many tokens fill one:
        # batches cut at that budget make full requests, not one half-empty per batch.
        batch_tokens = getattr(embedder, "batch_tokens", None)
        counter = self._ports.token_measure if batch_tokens else None
        created_at = self._ports.clock.now()
        state = {"chunks_total": 0, "chunks_done": 0, "tokens": 0, "characters": 0, "sections": 0}
        # Seconds spent in each stage; they overlap, so they may add up to more than the total.
        timings = {"extract": 0.0, "chunk": 0.0, "embed": 0.0, "store": 0.0}
        telemetry = self._ports.telemetry

        def cut(section: Section) -> list[Chunk]:
            """The section's chunks, numbered from 0 (in a worker thread)."""
            return chunk_text(section.text, size=options.size, overlap=options.overlap, measure=measure)

        def label(
            section: Section, pieces: list[Chunk], first_index: int
        ) -> tuple[list[Chunk], list[str], list[dict[str, Any]]]:
            """The chunks numbered on from the sections before, their vector ids and metadata."""
            base = {**user_meta, "source_name": source.name, "source_type": source.type.value}
            chunks, ids, metadata = [], [], []
            for chunk in pieces:
                if first_index:
                    chunk = dataclasses.replace(chunk, index=chunk.index + first_index)
                chunks.append(chunk)
                ids.append(vector_id(source.id, chunk.index))
                extra = {**base, **section.chunk_extra(chunk.start, chunk.end)}
                metadata.append(
                    chunk_metadata(
                        source_id=source.id,
                        agent_id=agent.id,
                        namespace=agent.namespace,
                        chunk=chunk,
                        created_at=created_at,
                        extra=extra,
                    )
                )
            return chunks, ids, metadata

        extra_result: dict[str, Any] = {}
        chunked: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=2)
        embedded: asyncio.Queue[tuple[_Batch, Embeddings] | None] = asyncio.Queue(maxsize=1)

        async def read_and_chunk() -> None:
            batch = _Batch()

            async def emit(section: Section, lo: float, hi: float, cutting: asyncio.Future[list[Chunk]]) -> None:
                nonlocal batch
                clock = time.monotonic()
                cut_chunks = await cutting
                chunks, ids, metadata = await asyncio.to_thread(label, section, cut_chunks, state["chunks_total"])
                timings["chunk"] += time.monotonic() - clock
                state["chunks_total"] += len(chunks)
                sizes = [0] * len(chunks)
                if counter is not None:
                    sizes = await asyncio.to_thread(counter.count_many, [c.text for c in chunks])
                length = max(1, len(section.text))
                for chunk, vid, meta, tokens in zip(chunks, ids, metadata, sizes, strict=True):
                    if batch_tokens and batch.ids and batch.tokens + tokens > batch_tokens:
                        await chunked.put(batch)
                        batch = _Batch(fraction=batch.fraction)
                    batch.ids.append(vid)
                    batch.texts.append(chunk.text)
                    batch.metadata.append(meta)
                    batch.tokens += tokens
                    batch.fraction = lo + (hi - lo) * (chunk.end / length)
                    if len(batch.ids) >= batch_size:
                        await chunked.put(batch)
                        batch = _Batch(fraction=batch.fraction)

            # Sections being cut, in order: the next one's tokenizing (which releases the
            # GIL) overlaps with this one's packing, so a long text keeps both cores busy.
            ahead: collections.deque[tuple[Section, float, float, asyncio.Future[list[Chunk]]]] = collections.deque()
            sections = read_sections(
                self._ports, source, self._config, on_progress=self._extra(run), result=extra_result
            )
            try:
                # aclosing: a crawl's workers and connections end with the job, even when it fails.
                async with contextlib.aclosing(sections):
                    while True:
                        clock = time.monotonic()
                        item = await anext(sections, None)
                        timings["extract"] += time.monotonic() - clock
                        if item is None:
                            break
                        section, lo, hi = item
                        run.check()
                        state["sections"] += 1
                        state["characters"] += len(section.text)
                        ahead.append((section, lo, hi, asyncio.ensure_future(asyncio.to_thread(cut, section))))
                        if len(ahead) >= SECTIONS_AHEAD:
                            await emit(*ahead.popleft())
                while ahead:
                    await emit(*ahead.popleft())
            finally:
                for *_, cutting in ahead:
                    cutting.cancel()
                    with contextlib.suppress(BaseException):
                        await cutting
            if batch.ids:
                await chunked.put(batch)
            await chunked.put(None)

        async def embed() -> None:
            while (batch := await chunked.get()) is not None:
                run.check()
                clock = time.monotonic()
                call = functools.partial(embedder.embed_documents, batch.texts)
                embeddings = await self._step("embedding", self._config.embed_timeout_seconds, call)
                timings["embed"] += time.monotonic() - clock
                telemetry.embedded(embedder.model, len(batch.texts), embeddings.tokens)
                await embedded.put((batch, embeddings))
            await embedded.put(None)

        async def store() -> None:
            while (item := await embedded.get()) is not None:
                batch, embeddings = item
                records = [
                    VectorRecord(id=vid, values=vec, metadata=meta)
                    for vid, vec, meta in zip(batch.ids, embeddings.vectors, batch.metadata, strict=True)
                ]
                run.check()
                clock = time.monotonic()
                # Set before the write: a write cut short by a failure elsewhere may still land.
                run.wrote_vectors = True
                call = functools.partial(self._ports.vectors.upsert, agent.namespace, records)
                await self._step("storing vectors", self._config.vector_timeout_seconds, call)
                timings["store"] += time.monotonic() - clock
                telemetry.vectors_written(len(records))
                state["chunks_done"] += len(records)
                state["tokens"] += embeddings.tokens
                await self._progress(
                    run,
                    stage="embedding",
                    chunks_total=state["chunks_total"],
                    chunks_done=state["chunks_done"],
                    percent=min(99, int(batch.fraction * 100)),
                )

        await _all_or_first_error(read_and_chunk(), embed(), store())
        total = state["chunks_total"]
        if total == 0:
            raise PermanentError("the source contains no text to index")
        await self._progress(run, stage="finalizing", chunks_total=total, chunks_done=total, percent=99)
        await self._step(
            "removing stale vectors",
            self._config.vector_timeout_seconds,
            lambda: self._delete_stale(agent.namespace, source.id, keep=total),
        )
        elapsed = time.monotonic() - started
        for stage, seconds in {**timings, "total": elapsed}.items():
            telemetry.stage_finished(source.type.job_type.value, stage, seconds)
        return {
            "chunks": total,
            "vectors": total,
            "characters": state["characters"],
            "sections": state["sections"],
            "embedding_model": embedder.model,
            "embedding_tokens": state["tokens"],
            "duration_seconds": round(elapsed, 3),
            "stage_seconds": {stage: round(seconds, 3) for stage, seconds in timings.items()},
            **extra_result,
        }

    async def _step(self, name: str, seconds: float, call: Callable[[], Awaitable[T]]) -> T:
        """One call to a provider, retried in place on a transient error.

        A long job makes hundreds of calls; one failed call (a 503, a dropped
        connection) should cost a moment, not the whole attempt. Only when the call keeps
        failing does the attempt fail (and the job retry later, with backoff). A call
        that hangs is not retried here: past ``seconds`` the attempt fails, because its
        heartbeat would otherwise keep the job's lease alive forever.
        """
        tries = max(1, self._config.step_tries)
        for attempt in range(1, tries + 1):
            try:
                return await asyncio.wait_for(call(), timeout=seconds)
            except TimeoutError:
                raise TransientError(f"{name} timed out after {seconds:g} s") from None
            except TransientError as exc:
                if attempt == tries or exc.retried:
                    raise
                delay = self._config.step_retry_seconds * (2 ** (attempt - 1)) * (0.5 + self._ports.random.random())
                log.info("%s failed (%s); trying again in %.2fs", name, exc.message, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _extra(self, run: _Run) -> Callable[[dict[str, Any]], Any]:
        """Progress reported by an extractor or crawler (pages done...), merged in."""

        async def report(extra: dict[str, Any]) -> None:
            run.extra.update(extra)
            await self._progress(run, **{**run.job.progress, **extra})

        return report

    async def _delete_stale(self, namespace: str, source_id: uuid.UUID, *, keep: int) -> None:
        ids = await self._ports.vectors.list_ids(namespace, source_prefix(source_id))
        stale = [vid for vid in ids if parse_vector_id(vid)[1] >= keep]
        if stale:
            await self._ports.vectors.delete_ids(namespace, stale)

    # -- endings ---------------------------------------------------------------------

    async def _stopped(self, run: _Run, stop: JobCancelled) -> None:
        """Cancelled or deleted: remove what this run wrote, unless the job moved on."""
        log.info("job %s stopped: %s", run.job.id, stop.message)
        try:
            if stop.code == "job_cancelled":
                await clean_up_cancelled(self._ports, run.job, holder=self.worker_id, remove=run.wrote_vectors)
            elif stop.code == "source_deleted" and run.wrote_vectors:
                await self._ports.vectors.delete_source(run.agent.namespace, str(run.source.id))
        except Exception:
            # The lease runs out and the reconciler cleans up in this worker's place.
            log.warning("clean-up after job %s stopped failed", run.job.id, exc_info=True)

    async def _failed(self, run: _Run, exc: Exception) -> None:
        transient, message = classify(exc)
        now = self._ports.clock.now()
        retry = False
        final = not transient or run.job.attempts >= run.job.max_attempts
        if final and run.wrote_vectors:
            # Before the failure is recorded: a crash in between leaves a job that is
            # reclaimed and retried, never a failed source with vectors it does not count.
            try:
                await self._ports.vectors.delete_source(run.agent.namespace, str(run.source.id))
            except Exception:
                log.warning("could not remove the vectors of failing job %s; retrying it later", run.job.id)
                transient, final = True, False

        def change(job: Job, source: Source) -> None:
            nonlocal retry
            retry = job.handle_failure(
                now, message, transient=transient, policy=self._config.retry, rnd=self._ports.random.random()
            )
            if retry:
                source.follow(JobStatus.PENDING, now, error=f"retrying: {job.error_message}")
            else:
                source.follow(JobStatus.FAILED, now, error=job.error_message)
                if run.wrote_vectors:
                    source.chunk_count = 0

        try:
            await self._save(run, change)
        except JobCancelled as stop:
            await self._stopped(run, stop)
            return
        except Exception:
            # Cannot record the failure (database down?): the lease runs out and the
            # reconciler retries the job, counting this attempt.
            log.exception("could not record the failure of job %s", run.job.id)
            return
        self._ports.telemetry.job_finished(run.job.type.value, "retrying" if retry else "failed")
        if retry:
            log.warning("job %s failed (%s); retry at %s", run.job.id, message, run.job.scheduled_for)
            await self._ports.dispatch(run.job)
        else:
            log.warning("job %s failed: %s", run.job.id, message)


async def _all_or_first_error(*stages: Awaitable[None]) -> None:
    """Runs ``stages`` concurrently until all are done; on the first error, cancels the
    others (a stage waiting on a queue would wait forever) and raises that error."""
    tasks = [asyncio.ensure_future(stage) for stage in stages]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error
    finally:
        # Cancelled again until done: on Python 3.11 ``asyncio.wait_for`` can swallow a
        # cancellation that arrives as its inner call completes (gh-86296), and a stage
        # that swallowed it would wait on its queue forever.
        pending = {task for task in tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.05)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" warning


def _complete(job: Job, source: Source, result: dict[str, Any], now: datetime) -> None:
    job.report_progress(now, {**job.progress, "stage": "done", "percent": 100})
    job.complete(now, result)
    source.chunk_count = int(result["chunks"])
    source.follow(job.status, now)


def _why_stopped(current: Job | None, worker_id: str) -> JobCancelled:
    if current is None:
        return JobCancelled("the source was deleted", code="source_deleted")
    if current.status is JobStatus.CANCELLED:
        return JobCancelled("the job was cancelled")
    return JobCancelled(
        f"the job is no longer held by this worker (now {current.status}, held by {current.locked_by or 'nobody'})",
        code="lease_lost",
    )


def classify(exc: BaseException) -> tuple[bool, str]:
    """(transient?, message for the user) of an exception raised by a job step."""
    if isinstance(exc, SluiceError):
        return bool(getattr(exc, "transient", False)), exc.message
    if isinstance(exc, TimeoutError | ConnectionError):
        return True, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError):
        return False, "the source needs more memory than this worker has"
    # A bug or an unexpected library error: retry within the budget, and say what it was.
    log.error("unexpected error in a job", exc_info=exc)
    return True, f"internal error ({type(exc).__name__}: {exc})"
