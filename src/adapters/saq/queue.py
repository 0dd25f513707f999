"""The distributed job queue: SAQ on Redis.

A SAQ job here is a *ticket*: it carries a job id and wakes one worker, which claims the
best due job from the jobs table (see ``ports.queue``). That is how priorities hold on
Redis, whose SAQ queue is a plain FIFO list: the order tickets arrive in does not
matter, the database decides what runs.

SAQ's defaults would not recover from a killed worker (a ticket times out after 10 s,
a dead one is swept after 60 s and not retried), so every ticket is configured here:

* ``timeout``: generous (``JOB_TIMEOUT_SECONDS``), because a crawl can run for an hour;
  hangs are caught by the job's lease in the database instead.
* ``heartbeat``: the job lease; the worker touches its ticket while the job runs, and
  the sweep (every heartbeat) aborts the ticket of a worker that died.
* ``retries=1``: SAQ never re-runs a ticket; the database decides about retries (with
  backoff) and the reconciler re-dispatches a reclaimed job under a new key.
* ``key`` = ``{job_id}.{attempt}``: dispatch is deduplicated per pending spell of a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from typing import Any

from ports.queue import JobHandler, Periodic, QueueUnavailable, Ticket

log = logging.getLogger(__name__)

TASK = "sluice.run_job"


def _unavailable(exc: Exception) -> QueueUnavailable:
    return QueueUnavailable(f"the job queue (Redis) cannot be reached: {exc}")


def cron_for(seconds: int) -> str:
    """A cron expression firing about every ``seconds`` (croniter's 6th field is seconds)."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"0 */{seconds // 3600} * * *"
    if seconds >= 60 and seconds % 60 == 0:
        return f"*/{seconds // 60} * * * *"
    return f"* * * * * */{max(1, seconds)}"


class SaqJobQueue:
    def __init__(
        self,
        url: str,
        *,
        name: str = "sluice",
        heartbeat_seconds: float = 10.0,
        job_timeout_seconds: int = 6 * 3600,
    ) -> None:
        from saq import Queue

        self._queue = Queue.from_url(url, name=name)
        self._heartbeat = max(2, math.ceil(heartbeat_seconds))
        self._timeout = job_timeout_seconds
        self._periodic: list[tuple[str, int, Periodic]] = []
        self._worker: Any = None
        self._task: asyncio.Task[None] | None = None
        self._draining = False
        self._running: set[asyncio.Future[object]] = set()

    @property
    def name(self) -> str:
        return str(self._queue.name)

    # -- producer side -----------------------------------------------------------------

    async def dispatch(self, ticket: Ticket) -> None:
        from redis.exceptions import RedisError
        from saq import Job

        run_at = ticket.run_at.timestamp()
        # SAQ schedules in whole seconds; rounding up never delivers a ticket early.
        scheduled = 0 if run_at <= time.time() else math.ceil(run_at)
        job = Job(
            function=TASK,
            kwargs={"job_id": str(ticket.job_id)},
            key=ticket.key,
            scheduled=scheduled,
            timeout=self._timeout,
            heartbeat=self._heartbeat,
            retries=1,
            ttl=600,
            meta={"priority": ticket.priority},
        )
        try:
            await self._queue.enqueue(job)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def depth(self) -> int:
        from redis.exceptions import RedisError

        try:
            # "incomplete" holds queued, scheduled and active tickets.
            return int(await self._queue.count("incomplete")) - int(await self._queue.count("active"))
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def ping(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self._queue.redis.ping()  # type: ignore[attr-defined]  # RedisQueue has it
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def live_workers(self) -> int | None:
        from redis.exceptions import RedisError

        try:
            return len((await self._queue.info())["workers"])
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    def every(self, name: str, seconds: int, action: Periodic) -> None:
        self._periodic.append((name, seconds, action))

    # -- consumer side -----------------------------------------------------------------

    async def start(self, handler: JobHandler, *, concurrency: int) -> None:
        from saq import CronJob, Worker

        if self._task is not None:
            raise RuntimeError("queue consumer already started")

        heartbeat = self._heartbeat

        async def run_job(ctx: dict[str, Any], *, job_id: str) -> None:
            if self._draining:
                # Stopping: leave the job pending; another worker's reconciler takes it.
                return
            toucher = asyncio.create_task(_touch(ctx["job"], heartbeat / 3))
            # Shielded: SAQ cancels a ticket's task when the ticket is aborted, and its sweep
            # can abort the ticket of a running job (one it saw in the active list before it
            # was marked active: tobymao/saq#124). Jobs stop through the jobs table (cancel,
            # deletion, lost lease), never through SAQ, so the job runs on to its end.
            running = asyncio.ensure_future(handler(uuid.UUID(job_id)))
            self._running.add(running)
            running.add_done_callback(self._running.discard)
            try:
                await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.done():
                    log.warning("SAQ aborted the ticket of running job %s; the job goes on", job_id)
                raise
            except Exception:
                # The handler records failures on the job itself; the ticket is done.
                log.exception("job handler raised for job %s", job_id)
            finally:
                toucher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await toucher

        cron_jobs = [
            CronJob(_named(name, action), cron=cron_for(seconds), unique=True, timeout=max(60, seconds))
            for name, seconds, action in self._periodic
        ]
        worker = Worker(
            self._queue,
            functions=[(TASK, run_job)],
            concurrency=max(1, concurrency),
            cron_jobs=cron_jobs,
            timers={"schedule": 1, "sweep": heartbeat, "abort": 1, "worker_info": 10},
            dequeue_timeout=1.0,
            # ``stop`` below waits for running jobs itself; SAQ's own grace period would
            # also wait out its upkeep loops' sleeps (up to 10 s) for nothing.
            shutdown_grace_period_s=0,
        )
        # Signals belong to the process (uvicorn or `sluice worker`), not to the queue.
        worker.SIGNALS = []
        self._worker = worker
        self._task = asyncio.create_task(worker.start(), name="sluice-saq-worker")

    async def stop(self, *, timeout: float = 10.0) -> None:
        if self._worker is None or self._task is None:
            return
        worker, task = self._worker, self._task
        self._worker, self._task = None, None
        # Setting SAQ's stop event would cancel running jobs at once: drain first.
        self._draining = True
        running = [ctx["task"] for ctx in list(worker.job_task_contexts.values())]
        running += [task for task in self._running if not task.done()]  # also those SAQ gave up on
        if running:
            await asyncio.wait(running, timeout=timeout)
        worker.event.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
        self._draining = False

    async def close(self) -> None:
        await self.stop()
        with contextlib.suppress(Exception):
            await self._queue.disconnect()


async def _touch(job: Any, every: float) -> None:
    """Keep the ticket's heartbeat fresh while its job runs, so the sweep leaves it alone."""
    while True:
        await asyncio.sleep(every)
        try:
            await job.update()
        except Exception:
            log.debug("could not touch ticket %s", getattr(job, "key", "?"), exc_info=True)


def _named(name: str, action: Periodic) -> Any:
    async def periodic(ctx: dict[str, Any]) -> None:
        await action()

    # SAQ keys cron jobs by the function's qualified name: one per action, fleet-wide.
    periodic.__qualname__ = periodic.__name__ = f"sluice.every.{name}"
    return periodic
