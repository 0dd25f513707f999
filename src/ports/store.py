"""The store port: agents, sources, jobs and webhooks, changed together in units of work.

Contract (checked by ``tests/contract/test_store.py`` on every adapter):

* Nothing a unit of work changes is visible to others before ``commit()``; leaving the
  ``async with`` block without committing rolls everything back.
* ``jobs.save(job)`` is a compare-and-set on ``job.version``: it succeeds only when the
  stored version equals ``job.version``, then increments both. Otherwise it raises
  ``StaleJob`` and writes nothing, so two processes can never both claim, finish or
  cancel one job.
* ``jobs.next_due(now)`` in a writable unit of work returns the job a free worker
  should start (with its source and agent) and locks it until the unit of work ends,
  skipping jobs another unit of work has locked (PostgreSQL ``FOR UPDATE SKIP
  LOCKED``; SQLite has one writer at a time), so concurrent claimers each get a
  different job at once instead of racing for the same one.
* ``deliveries.save(delivery)`` is the same compare-and-set on ``delivery.version``
  (``StaleDelivery``). ``deliveries.due(now, limit=..., lock=True)`` in a writable unit
  of work also locks the rows it returns until the unit of work ends and skips rows
  another unit of work has locked (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has
  one writer at a time), so concurrent claimers take disjoint batches.
* Deleting a source deletes its jobs and idempotency records (cascade); deleting an
  agent deletes its sources, its webhook and its webhook deliveries, its API keys and
  its idempotency records. A delivery outlives its job (no cascade).
* Lists are newest first (``created_at`` then ``id`` descending) with keyset cursors.
* Datetimes come back timezone-aware in UTC.
* Adapter failures surface as ``StoreUnavailable`` (a transient error: retry later) or
  ``StoreError``; no driver exception crosses the port.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, Protocol

from domain.access import ApiKey
from domain.agents import Agent
from domain.errors import Conflict, SluiceError, StaleDelivery, StaleJob, TransientError
from domain.idempotency import IdempotencyRecord
from domain.jobs import Job, JobCensus, JobStatus
from domain.pagination import Page, PageRequest
from domain.sources import Source
from domain.webhooks import DeliveryStatus, Webhook, WebhookDelivery


class StoreError(SluiceError):
    code = "store_error"


class StoreUnavailable(TransientError):
    """The database cannot be reached or timed out. Retrying later may succeed."""

    code = "store_unavailable"


class DuplicateKey(Conflict):
    code = "duplicate"


class DueJob(NamedTuple):
    """A job ready to start, with the source it processes and the agent that owns both."""

    job: Job
    source: Source
    agent: Agent


class AgentRepository(Protocol):
    async def add(self, agent: Agent) -> None: ...

    async def get(self, agent_id: uuid.UUID) -> Agent | None: ...

    async def save(self, agent: Agent) -> None: ...

    async def delete(self, agent_id: uuid.UUID) -> bool: ...

    async def list(self, page: PageRequest) -> Page[Agent]: ...


class SourceRepository(Protocol):
    async def add(self, source: Source) -> None: ...

    async def get(self, source_id: uuid.UUID) -> Source | None: ...

    async def save(self, source: Source) -> bool:
        """Write the source back. False when it no longer exists (deleted meanwhile)."""
        ...

    async def delete(self, source_id: uuid.UUID) -> bool: ...

    async def list(self, agent_id: uuid.UUID, page: PageRequest) -> Page[Source]: ...

    async def count(self, agent_id: uuid.UUID) -> tuple[int, int]:
        """(number of sources, sum of their chunk counts) of one agent."""
        ...

    async def chunk_totals(self, *, limit: int) -> dict[uuid.UUID, int]:
        """Sum of chunk counts per agent, the ``limit`` largest (for metrics)."""
        ...


class JobRepository(Protocol):
    async def add(self, job: Job) -> None: ...

    async def get(self, job_id: uuid.UUID) -> Job | None: ...

    async def save(self, job: Job) -> None:
        """Compare-and-set on ``job.version``; raises StaleJob when it lost a race."""
        ...

    async def list(
        self,
        agent_id: uuid.UUID,
        page: PageRequest,
        *,
        source_id: uuid.UUID | None = None,
        status: JobStatus | None = None,
    ) -> Page[Job]: ...

    async def for_source(self, source_id: uuid.UUID, *, active_only: bool = False) -> builtins.list[Job]: ...

    async def count_by_status(self, agent_id: uuid.UUID) -> dict[str, int]: ...

    async def pending(
        self, *, limit: int, updated_before: datetime | None = None, due_at: datetime | None = None
    ) -> builtins.list[Job]:
        """Pending jobs, highest priority first, then oldest ``run_at`` (``scheduled_for``
        or ``created_at``), then oldest ``created_at``. ``updated_before`` keeps jobs not
        touched since; ``due_at`` keeps jobs whose ``run_at`` is at or before it."""
        ...

    async def next_due(self, now: datetime) -> DueJob | None:
        """The first job in ``pending()`` order that is due (``Job.is_due(now)``: not
        scheduled, or scheduled at or before ``now``), has attempts left and that no
        other unit of work holds locked, with its source and agent; None when there is
        none. Writable units of work only: the job stays locked until this unit of
        work ends, so that concurrent callers each get a different job without waiting
        for one another (a job being saved elsewhere, e.g. cancelled, is skipped too)."""
        ...

    async def expired_leases(self, now: datetime, *, limit: int) -> builtins.list[Job]:
        """Processing jobs, and jobs cancelled while running whose clean-up is owed, whose
        lease expired at or before ``now``; oldest lease first."""
        ...

    async def queue_depth(self) -> dict[int, int]:
        """Pending jobs per priority."""
        ...

    async def census(self) -> JobCensus:
        """All jobs by (type, status), and when the oldest pending job became due."""
        ...

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        """Delete completed, failed and cancelled jobs that finished before ``cutoff``."""
        ...


class WebhookRepository(Protocol):
    """At most one webhook per agent, keyed by the agent's id."""

    async def get(self, agent_id: uuid.UUID) -> Webhook | None: ...

    async def put(self, webhook: Webhook) -> None:
        """Insert or replace the agent's webhook (the agent must exist)."""
        ...

    async def delete(self, agent_id: uuid.UUID) -> bool: ...


class DeliveryRepository(Protocol):
    """The webhook outbox: deliveries written with the job transitions they announce."""

    async def add(self, delivery: WebhookDelivery) -> None: ...

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None: ...

    async def save(self, delivery: WebhookDelivery) -> None:
        """Compare-and-set on ``delivery.version``; raises StaleDelivery when it lost a race."""
        ...

    async def due(self, now: datetime, *, limit: int, lock: bool = False) -> builtins.list[WebhookDelivery]:
        """Pending or sending deliveries whose ``next_attempt_at`` is at or before ``now``,
        oldest ``next_attempt_at`` first. ``lock`` (writable units of work): lock them
        until the unit of work ends, skipping rows locked by another."""
        ...

    async def list(
        self, agent_id: uuid.UUID, page: PageRequest, *, status: DeliveryStatus | None = None
    ) -> Page[WebhookDelivery]: ...

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        """Delete delivered and failed deliveries that finished before ``cutoff``."""
        ...


class ApiKeyRepository(Protocol):
    """Agents' API keys, by the SHA-256 of the key (the key itself is never stored)."""

    async def add(self, key: ApiKey) -> None:
        """Store a key (the agent must exist); DuplicateKey when its hash is taken."""
        ...

    async def find(self, key_hash: str) -> ApiKey | None: ...

    async def delete_for_agent(self, agent_id: uuid.UUID) -> int:
        """Revoke every key of the agent; the number revoked."""
        ...


class IdempotencyRepository(Protocol):
    """Idempotency keys of source creation, one per (agent, key).

    A record goes with its agent and with its source (cascade)."""

    async def get(self, agent_id: uuid.UUID, key: str) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None:
        """DuplicateKey when the agent already has a record under this key (at the latest
        at commit), so two racing first requests cannot both create a source."""
        ...

    async def delete(self, agent_id: uuid.UUID, key: str) -> bool: ...

    async def delete_created_before(self, cutoff: datetime, *, limit: int) -> int:
        """Delete records created before ``cutoff`` (expired), at most ``limit``."""
        ...


class UnitOfWork(Protocol):
    agents: AgentRepository
    sources: SourceRepository
    jobs: JobRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    api_keys: ApiKeyRepository
    idempotency: IdempotencyRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    """Owns the connection pool; hands out units of work."""

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork: ...

    async def ping(self) -> None:
        """Raises StoreUnavailable when the database cannot be reached."""
        ...

    async def close(self) -> None: ...


__all__ = [
    "AgentRepository",
    "ApiKeyRepository",
    "DeliveryRepository",
    "DueJob",
    "DuplicateKey",
    "IdempotencyRepository",
    "JobRepository",
    "SourceRepository",
    "StaleDelivery",
    "StaleJob",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnitOfWork",
    "WebhookRepository",
]
