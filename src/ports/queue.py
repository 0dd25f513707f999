"""The job queue port: hands job ids to workers. It dispatches; it does not decide.

The jobs table is the truth. A queue may lose a ticket (a crash, Redis restarted) and a
reconciler re-dispatches it; a queue may deliver a ticket twice, and the worker's atomic
claim in the store makes the second delivery a no-op. So the contract is about order and
timing, not about exactly-once:

* ``dispatch`` is idempotent per job id: dispatching an id already waiting replaces its
  ticket (new priority or time) instead of queueing it twice.
* A ticket is delivered no earlier than its ``run_at``.
* Among due tickets, the highest ``priority`` is delivered first; within a priority,
  the earliest ``run_at`` and then the earliest dispatch.
* At most ``concurrency`` handlers run at once per consumer; a handler that raises does
  not stop the consumer.
* ``stop`` stops taking new tickets and waits for running handlers (up to a timeout).
* Failures to reach the queue raise ``QueueUnavailable``.
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


JobHandler = Callable[[uuid.UUID], Awaitable[None]]


class JobQueue(Protocol):
    async def dispatch(self, ticket: Ticket) -> None: ...

    async def start(self, handler: JobHandler, *, concurrency: int) -> None:
        """Start consuming in the background (returns once the consumer runs)."""
        ...

    async def stop(self, *, timeout: float = 10.0) -> None: ...

    async def depth(self) -> dict[int, int]:
        """Tickets waiting, per priority."""
        ...

    async def close(self) -> None:
        """Release connections (a producer-only queue never calls start/stop)."""
        ...
