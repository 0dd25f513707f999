"""The reference job queue: plain, linear, obviously right.

``MemoryJobQueue`` keeps tickets in a dict and picks the next one by scanning it. It is
the executable definition of the queue contract (priority, then ``run_at``, then
dispatch order; nothing before ``run_at``; one ticket per job id) and the base of the
optimised ``InProcessJobQueue``, which must deliver in the same order (a property test
compares the two). Tests drive it with a fake clock and ``drain()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid

from ports.clock import Clock
from ports.queue import JobHandler, Periodic, Ticket

log = logging.getLogger(__name__)


class MemoryJobQueue:
    def __init__(self, clock: Clock, *, poll_interval: float = 0.5) -> None:
        self._clock = clock
        self._poll = poll_interval
        self._seq = itertools.count()
        self._tickets: dict[uuid.UUID, tuple[Ticket, int]] = {}
        self._wakeup = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._stopping = False
        self._periodic: list[tuple[str, float, Periodic]] = []
        self._timers: list[asyncio.Task[None]] = []

    # -- producer side -----------------------------------------------------------------

    async def dispatch(self, ticket: Ticket) -> None:
        self._tickets[ticket.job_id] = (ticket, next(self._seq))
        self._wakeup.set()

    async def depth(self) -> int:
        return len(self._tickets)

    def every(self, name: str, seconds: int, action: Periodic) -> None:
        # One process consumes this queue, so a local timer is "once across consumers".
        self._periodic.append((name, float(seconds), action))

    async def ping(self) -> None:
        return None

    async def live_workers(self) -> int | None:
        return None

    async def close(self) -> None:
        await self.stop()

    # -- selection (overridden by the optimised queue) -----------------------------------

    def _take_due(self) -> tuple[Ticket | None, float | None]:
        """The next due ticket (removed from the queue), else seconds until one is due."""
        now = self._clock.now()
        due = [(t, seq) for t, seq in self._tickets.values() if t.run_at <= now]
        if due:
            ticket, _ = min(due, key=lambda ts: (-ts[0].priority, ts[0].run_at, ts[1]))
            del self._tickets[ticket.job_id]
            return ticket, None
        if not self._tickets:
            return None, None
        soonest = min(t.run_at for t, _ in self._tickets.values())
        return None, (soonest - now).total_seconds()

    # -- consumer side -----------------------------------------------------------------

    async def drain(self, handler: JobHandler) -> int:
        """Run every due ticket now, one at a time, until none is due. Returns how many ran."""
        ran = 0
        while True:
            ticket, _ = self._take_due()
            if ticket is None:
                return ran
            await call_handler(handler, ticket)
            ran += 1

    async def start(self, handler: JobHandler, *, concurrency: int) -> None:
        if self._consumer is not None:
            raise RuntimeError("queue consumer already started")
        self._stopping = False
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._consumer = asyncio.create_task(self._consume(handler), name="sluice-queue-consumer")
        for name, seconds, action in self._periodic:
            self._timers.append(asyncio.create_task(_repeat(name, seconds, action), name=f"sluice-every-{name}"))

    async def _consume(self, handler: JobHandler) -> None:
        assert self._slots is not None
        while not self._stopping:
            await self._slots.acquire()
            ticket = None
            while ticket is None and not self._stopping:
                self._wakeup.clear()
                ticket, wait = self._take_due()
                if ticket is None:
                    timeout = self._poll if wait is None else max(0.0, min(wait, self._poll))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), timeout)
            if ticket is None:
                self._slots.release()
                break
            task = asyncio.create_task(self._run(handler, ticket), name=f"sluice-job-{ticket.job_id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, handler: JobHandler, ticket: Ticket) -> None:
        assert self._slots is not None
        try:
            await call_handler(handler, ticket)
        finally:
            self._slots.release()

    async def stop(self, *, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wakeup.set()
        for timer in self._timers:
            timer.cancel()
        for timer in self._timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers.clear()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)


async def _repeat(name: str, seconds: float, action: Periodic) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except Exception:
            log.warning("periodic task %s failed; next try in %.0fs", name, seconds, exc_info=True)


async def call_handler(handler: JobHandler, ticket: Ticket) -> None:
    try:
        await handler(ticket.job_id)
    except asyncio.CancelledError:
        raise
    except Exception:
        # The handler records failures on the job itself; a bug in it must still never
        # stop the queue.
        log.exception("job handler raised for job %s", ticket.job_id)
