"""The embedded mode's job queue: two heaps instead of scans.

Same contract and the same order as ``MemoryJobQueue`` (its base), in O(log n) per
operation: tickets wait in a heap keyed by ``run_at`` and move, once due, to a heap keyed
by (-priority, run_at, dispatch order). Re-dispatching a job marks its old entry dead
(lazy deletion). It keeps nothing across restarts; the reconciler re-dispatches every
pending job from the jobs table on start-up, which is what makes it durable.
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from adapters.memory.queue import MemoryJobQueue
from ports.clock import Clock
from ports.queue import Ticket


@dataclass(order=True, slots=True)
class _Entry:
    key: tuple[int, datetime, int]
    ticket: Ticket = field(compare=False)
    dead: bool = field(default=False, compare=False)


class InProcessJobQueue(MemoryJobQueue):
    def __init__(self, clock: Clock, *, poll_interval: float = 1.0) -> None:
        super().__init__(clock, poll_interval=poll_interval)
        self._waiting: list[tuple[datetime, int, _Entry]] = []
        self._ready: list[_Entry] = []
        self._live: dict[uuid.UUID, _Entry] = {}

    async def dispatch(self, ticket: Ticket) -> None:
        old = self._live.get(ticket.job_id)
        if old is not None:
            old.dead = True
        seq = next(self._seq)
        entry = _Entry(key=(-ticket.priority, ticket.run_at, seq), ticket=ticket)
        self._live[ticket.job_id] = entry
        heapq.heappush(self._waiting, (ticket.run_at, seq, entry))
        self._wakeup.set()

    async def depth(self) -> int:
        return len(self._live)

    def _take_due(self) -> tuple[Ticket | None, float | None]:
        now = self._clock.now()
        wait: float | None = None
        while self._waiting:
            run_at, _, entry = self._waiting[0]
            if entry.dead:
                heapq.heappop(self._waiting)
            elif run_at <= now:
                heapq.heappop(self._waiting)
                heapq.heappush(self._ready, entry)
            else:
                wait = (run_at - now).total_seconds()
                break
        while self._ready:
            entry = heapq.heappop(self._ready)
            if not entry.dead:
                del self._live[entry.ticket.job_id]
                return entry.ticket, None
        return None, wait
