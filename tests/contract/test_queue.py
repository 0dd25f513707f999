"""The job queue contract, on every queue adapter (SAQ on the real Redis included)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from adapters.inprocess.queue import InProcessJobQueue
from adapters.memory.queue import MemoryJobQueue
from adapters.system.clock import SystemClock
from domain.jobs import Ticket
from services import REDIS_URL, need, port_open

CLOCK = SystemClock()


async def redis_queue():
    from urllib.parse import urlparse

    from adapters.saq.queue import SaqJobQueue

    url = urlparse(REDIS_URL)
    if not port_open(url.hostname or "127.0.0.1", url.port or 6379):
        need("Redis", f"nothing listens at {REDIS_URL}")
    return SaqJobQueue(REDIS_URL, name=f"sluice-test-{uuid.uuid4().hex[:8]}", heartbeat_seconds=2)


async def purge(queue) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(f"saq:{queue.name}*"):
        await redis.delete(key)
    await redis.aclose()


@pytest.fixture(params=["memory", "inprocess", "saq"])
async def queue(request):
    if request.param == "saq":
        q = await redis_queue()
    else:
        q = {"memory": MemoryJobQueue, "inprocess": InProcessJobQueue}[request.param](CLOCK, poll_interval=0.05)
    yield q
    await q.close()
    if request.param == "saq":
        await purge(q)


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.seen: list[uuid.UUID] = []
        self.delay = delay
        self.running = 0
        self.max_running = 0

    async def __call__(self, job_id: uuid.UUID) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.seen.append(job_id)
        finally:
            self.running -= 1

    async def until(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.seen) < count:
                await asyncio.sleep(0.02)


def ticket(priority: int = 5, delay: float = 0.0, attempt: int = 0) -> Ticket:
    return Ticket(
        job_id=uuid.uuid4(), priority=priority, run_at=CLOCK.now() + timedelta(seconds=delay), attempt=attempt
    )


async def test_every_ticket_is_delivered_and_concurrency_is_bounded(queue):
    rec = Recorder(delay=0.1)
    tickets = [ticket(priority=p) for p in (10, 5, 3, 10, 5, 3, 1, 0)]
    for t in tickets:
        await queue.dispatch(t)
    await queue.start(rec, concurrency=2)
    await rec.until(len(tickets))
    assert sorted(rec.seen) == sorted(t.job_id for t in tickets)
    assert rec.max_running == 2


async def test_nothing_is_delivered_before_run_at(queue):
    rec = Recorder()
    await queue.start(rec, concurrency=1)
    soon = ticket(delay=1.2)
    start = CLOCK.now()
    await queue.dispatch(soon)
    await rec.until(1)
    assert (CLOCK.now() - start).total_seconds() >= 1.2


async def test_dispatch_is_idempotent_per_key(queue):
    rec = Recorder()
    once = ticket()
    await queue.dispatch(once)
    await queue.dispatch(once)
    assert await queue.depth() == 1
    marker = ticket(delay=1.5)
    await queue.dispatch(marker)
    await queue.start(rec, concurrency=1)
    await rec.until(2)
    await asyncio.sleep(0.5)
    assert rec.seen.count(once.job_id) == 1 and rec.seen[-1] == marker.job_id


async def test_a_new_attempt_of_a_job_gets_its_own_ticket(queue):
    rec = Recorder()
    first = ticket()
    again = Ticket(job_id=first.job_id, priority=first.priority, run_at=first.run_at, attempt=1)
    await queue.dispatch(first)
    await queue.start(rec, concurrency=1)
    await rec.until(1)
    await queue.dispatch(again)
    await rec.until(2)
    assert rec.seen == [first.job_id, first.job_id]


async def test_a_failing_handler_does_not_stop_the_consumer(queue):
    bad, good = ticket(), ticket()
    done: list[uuid.UUID] = []

    async def handler(job_id: uuid.UUID) -> None:
        if job_id == bad.job_id:
            raise RuntimeError("boom")
        done.append(job_id)

    await queue.dispatch(bad)
    await queue.start(handler, concurrency=1)
    await queue.dispatch(good)
    async with asyncio.timeout(10):
        while not done:
            await asyncio.sleep(0.02)
    assert done == [good.job_id]


async def test_stop_lets_running_handlers_finish(queue):
    rec = Recorder(delay=0.5)
    t = ticket()
    await queue.dispatch(t)
    await queue.start(rec, concurrency=1)
    async with asyncio.timeout(10):
        while rec.running == 0:
            await asyncio.sleep(0.02)
    await queue.stop(timeout=5)
    assert rec.seen == [t.job_id]


async def test_every_runs_a_periodic_action(queue):
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(asyncio.get_running_loop().time())

    queue.every("tick", 1, tick)
    await queue.start(Recorder(), concurrency=1)
    async with asyncio.timeout(10):
        while len(ticks) < 2:
            await asyncio.sleep(0.05)
    assert ticks[1] - ticks[0] >= 0.5


async def test_ping(queue):
    await queue.ping()


async def test_a_ticket_aborted_by_saq_does_not_cut_its_job_short():
    """SAQ's sweep can abort a ticket whose job is running (it saw the ticket in the active
    list before it was marked active: tobymao/saq#124); the worker then cancels the task.
    Jobs are stopped through the jobs table only, so the handler runs to its end anyway."""
    q = await redis_queue()
    rec = Recorder(delay=2.5)
    t = ticket()
    try:
        await q.dispatch(t)
        await q.start(rec, concurrency=1)
        async with asyncio.timeout(10):
            while rec.running == 0:
                await asyncio.sleep(0.02)
        saq_queue = q._queue
        # Aborted over and over (the worker's ticket toucher rewrites the ticket's status),
        # so that SAQ's abort check, once a second, sees it and cancels the task.
        async with asyncio.timeout(15):
            while not rec.seen and rec.running:
                job = await saq_queue.job(t.key)
                if job is not None:
                    await saq_queue.abort(job, "swept")
                await asyncio.sleep(0.1)
        await rec.until(1, timeout=10)
        assert rec.seen == [t.job_id]
    finally:
        await q.close()
        await purge(q)
