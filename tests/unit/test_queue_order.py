"""In-process queues deliver in priority order, like the jobs table would pick.

Delivery order is not part of the queue contract (a ticket only wakes a worker, which
claims the best due job), but the embedded queues keep it so that the first ticket
delivered is the one for the job that will run: fewer wasted claims.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.inprocess.queue import InProcessJobQueue
from adapters.memory.clock import FakeClock
from adapters.memory.queue import MemoryJobQueue
from domain.jobs import Ticket

QUEUES = {"memory": MemoryJobQueue, "inprocess": InProcessJobQueue}


@pytest.fixture(params=sorted(QUEUES))
def make_queue(request):
    return lambda clock: QUEUES[request.param](clock, poll_interval=0.05)


@pytest.fixture
def clock():
    return FakeClock()


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


def ticket(clock, priority: int = 5, delay: float = 0.0) -> Ticket:
    return Ticket(job_id=uuid.uuid4(), priority=priority, run_at=clock.now() + timedelta(seconds=delay))


async def test_highest_priority_first_then_fifo(make_queue, clock):
    queue = make_queue(clock)
    tickets = []
    for i in range(30):
        t = ticket(clock, priority=(10, 5, 3)[i % 3])
        tickets.append(t)
        await queue.dispatch(t)
        clock.advance(0.001)
    rec = Recorder()
    assert await queue.drain(rec) == 30
    expected = sorted(tickets, key=lambda t: (-t.priority, t.run_at))
    assert rec.seen == [t.job_id for t in expected]
    assert rec.seen[:10] == [t.job_id for t in tickets if t.priority == 10]


async def test_same_priority_and_time_keeps_dispatch_order(make_queue, clock):
    queue = make_queue(clock)
    tickets = [ticket(clock) for _ in range(10)]
    for t in tickets:
        await queue.dispatch(t)
    rec = Recorder()
    await queue.drain(rec)
    assert rec.seen == [t.job_id for t in tickets]


async def test_nothing_is_delivered_before_run_at(make_queue, clock):
    queue = make_queue(clock)
    later = ticket(clock, delay=60)
    now = ticket(clock, priority=1)
    await queue.dispatch(later)
    await queue.dispatch(now)
    rec = Recorder()
    await queue.drain(rec)
    assert rec.seen == [now.job_id]
    clock.advance(59)
    assert await queue.drain(rec) == 0
    clock.advance(1)
    await queue.drain(rec)
    assert rec.seen == [now.job_id, later.job_id]


async def test_dispatch_is_idempotent_per_job_and_replaces_the_ticket(make_queue, clock):
    queue = make_queue(clock)
    first = ticket(clock, priority=3)
    other = ticket(clock, priority=5)
    await queue.dispatch(first)
    await queue.dispatch(other)
    await queue.dispatch(Ticket(job_id=first.job_id, priority=10, run_at=first.run_at))
    assert await queue.depth() == 2
    rec = Recorder()
    assert await queue.drain(rec) == 2
    assert rec.seen == [first.job_id, other.job_id]


async def test_redispatch_to_a_later_time_postpones(make_queue, clock):
    queue = make_queue(clock)
    t = ticket(clock)
    await queue.dispatch(t)
    await queue.dispatch(Ticket(job_id=t.job_id, priority=t.priority, run_at=clock.now() + timedelta(seconds=30)))
    rec = Recorder()
    assert await queue.drain(rec) == 0
    clock.advance(30)
    assert await queue.drain(rec) == 1


async def test_depth_counts_waiting_tickets(make_queue, clock):
    queue = make_queue(clock)
    for prio in (10, 10, 5, 3, 3, 3):
        await queue.dispatch(ticket(clock, priority=prio))
    assert await queue.depth() == 6
    await queue.drain(Recorder())
    assert await queue.depth() == 0


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 7), st.sampled_from([3, 5, 10]), st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_inprocess_queue_delivers_in_the_reference_order(ops):
    """The heap-based queue against the linear reference, op by op."""

    async def scenario() -> tuple[list, list]:
        clocks = [FakeClock(), FakeClock()]
        queues = [MemoryJobQueue(clocks[0]), InProcessJobQueue(clocks[1])]
        recs = [Recorder(), Recorder()]
        ids = [uuid.uuid4() for _ in range(8)]
        for job, prio, delay, drain in ops:
            for clock, queue, rec in zip(clocks, queues, recs, strict=True):
                await queue.dispatch(Ticket(ids[job], prio, clock.now() + timedelta(seconds=delay)))
                clock.advance(1)
                if drain:
                    await queue.drain(rec)
        for clock, queue, rec in zip(clocks, queues, recs, strict=True):
            clock.advance(10)
            await queue.drain(rec)
            assert await queue.depth() == 0
        return recs[0].seen, recs[1].seen

    reference, optimised = asyncio.run(scenario())
    assert optimised == reference
