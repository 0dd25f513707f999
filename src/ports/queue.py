"""The job queue port: hands job ids to workers. It dispatches; it does not decide.

The jobs table is the truth. A queue may lose a ticket (a crash, Redis restarted) and a
reconciler re-dispatches it; a queue may deliver a ticket twice, and the worker's atomic
claim in the store makes the second delivery a no-op. A ticket only wakes a worker: the
worker claims the best due job from the jobs table (highest priority, then oldest), so
priorities do not depend on the order a queue delivers in. The contract is about
delivery and timing, not about order or exactly-once (``tests/contract/test_queue.py``):

* every dispatched ticket is delivered, no earlier than its ``run_at``;
* ``dispatch`` is idempotent per ``ticket.key``: a key already waiting is not queued twice;
* at most ``concurrency`` handlers run at once per consumer; a handler that raises does
  not stop the consumer;
* ``stop`` stops taking new tickets and waits for running handlers (up to a timeout);
* ``every(name, seconds, action)`` runs ``action`` about once per ``seconds`` across all
  consumers of the queue (one process in embedded mode, the fleet in distributed mode);
* failures to reach the queue raise ``QueueUnavailable``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from domain.errors import TransientError
from domain.jobs import Ticket

__all__ = ["JobHandler", "JobQueue", "QueueUnavailable", "Ticket"]


class QueueUnavailable(TransientError):
    code = "queue_unavailable"


JobHandler = Callable[[uuid.UUID], Awaitable[object]]
Periodic = Callable[[], Awaitable[object]]


class JobQueue(Protocol):
    async def dispatch(self, ticket: Ticket) -> None: ...

    async def start(self, handler: JobHandler, *, concurrency: int) -> None:
        """Start consuming in the background (returns once the consumer runs)."""
        ...

    async def stop(self, *, timeout: float = 10.0) -> None: ...

    async def depth(self) -> int:
        """Tickets waiting (per-priority depth comes from the jobs table)."""
        ...

    def every(self, name: str, seconds: int, action: Periodic) -> None:
        """Run ``action`` about every ``seconds`` across all consumers (register before
        ``start``)."""
        ...

    async def ping(self) -> None:
        """Raises QueueUnavailable when the queue's backend cannot be reached."""
        ...

    async def live_workers(self) -> int | None:
        """Worker processes consuming this queue now (None: this process is the only one)."""
        ...

    async def close(self) -> None:
        """Release connections (a producer-only queue never calls start/stop)."""
        ...
