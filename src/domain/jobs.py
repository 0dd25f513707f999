"""The job: one unit of background work on one source, and its lifecycle.

The state machine lives here and only here. Adapters persist a job; they never decide
what state it may move to. Every transition takes ``now`` from the caller's clock so
the rules stay pure and testable.

::

    pending ──start──▶ processing ──complete──▶ completed
       ▲  │               │  │  └──fail──────▶ failed ──retry──▶ pending
       │  │               │  └─schedule_retry─▶ pending   (automatic, attempts left)
       │  └──cancel──▶ cancelled ◀──cancel──┘
       └────────────retry (manual, fresh attempt budget)
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.errors import IllegalTransition, InvalidInput
from domain.retry import RetryPolicy


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
RETRYABLE_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
# A lease is held while running, and by a job cancelled while running until its
# partial output is removed.
LEASED_STATUSES = frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED})

# Every edge of the lifecycle; anything else raises IllegalTransition.
TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (JobStatus.PENDING, JobStatus.PROCESSING),
        (JobStatus.PROCESSING, JobStatus.COMPLETED),
        (JobStatus.PROCESSING, JobStatus.FAILED),
        (JobStatus.PROCESSING, JobStatus.PENDING),
        (JobStatus.PENDING, JobStatus.CANCELLED),
        (JobStatus.PROCESSING, JobStatus.CANCELLED),
        (JobStatus.FAILED, JobStatus.PENDING),
        (JobStatus.CANCELLED, JobStatus.PENDING),
    }
)


class JobType(str, enum.Enum):
    PROCESS_TEXT = "process_text"
    PROCESS_FILE = "process_file"
    CRAWL_WEBSITE = "crawl_website"

    @property
    def default_priority(self) -> int:
        """Higher runs first: text is cheap and interactive, crawls are slow."""
        return _DEFAULT_PRIORITIES[self]

    def __str__(self) -> str:
        return self.value


_DEFAULT_PRIORITIES = {
    JobType.PROCESS_TEXT: 10,
    JobType.PROCESS_FILE: 5,
    JobType.CRAWL_WEBSITE: 3,
}

MIN_PRIORITY = 0
MAX_PRIORITY = 100


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a queue carries: which job, how urgent, from when.

    ``key`` identifies one pending spell of a job (its id and the attempts it has had):
    dispatching the same key twice queues one ticket, while a job that comes back for
    another attempt gets a fresh key even if the ticket of its crashed attempt is still
    stuck in a queue.
    """

    job_id: uuid.UUID
    priority: int
    run_at: datetime
    attempt: int = 0

    @property
    def key(self) -> str:
        return f"{self.job_id}.{self.attempt}"


@dataclass(slots=True)
class Job:
    """A tracked background job. Mutable; every change goes through a transition method.

    ``version`` is the optimistic-concurrency counter: a repository only accepts a
    save whose ``version`` matches the stored one, so two processes can never both
    claim, cancel or finish the same job.
    """

    id: uuid.UUID
    data_source_id: uuid.UUID
    agent_id: uuid.UUID
    type: JobType
    status: JobStatus
    priority: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error_message: str | None = None
    attempts: int = 0
    scheduled_for: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    locked_by: str | None = None
    lease_expires_at: datetime | None = None
    version: int = 0

    @classmethod
    def new(
        cls,
        *,
        source_id: uuid.UUID,
        agent_id: uuid.UUID,
        type: JobType,
        now: datetime,
        max_attempts: int,
        priority: int | None = None,
        job_id: uuid.UUID | None = None,
    ) -> Job:
        prio = type.default_priority if priority is None else priority
        if not MIN_PRIORITY <= prio <= MAX_PRIORITY:
            raise InvalidInput(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        return cls(
            id=job_id or uuid.uuid4(),
            data_source_id=source_id,
            agent_id=agent_id,
            type=type,
            status=JobStatus.PENDING,
            priority=prio,
            max_attempts=max_attempts,
            created_at=now,
            updated_at=now,
            progress={"stage": "queued", "percent": 0},
        )

    # -- queries ---------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts)

    def is_due(self, now: datetime) -> bool:
        return self.status is JobStatus.PENDING and (self.scheduled_for is None or self.scheduled_for <= now)

    def lease_expired(self, now: datetime) -> bool:
        return self.status in LEASED_STATUSES and self.lease_expires_at is not None and self.lease_expires_at <= now

    @property
    def cleanup_owed(self) -> bool:
        """Cancelled while running: its worker still holds the lease until it has removed
        what it wrote; if that worker dies first, the reconciler cleans up after it."""
        return self.status is JobStatus.CANCELLED and self.locked_by is not None

    def run_at(self) -> datetime:
        """When a dispatcher should hand the job to a worker."""
        return self.scheduled_for or self.created_at

    def ticket(self) -> Ticket:
        return Ticket(job_id=self.id, priority=self.priority, run_at=self.run_at(), attempt=self.attempts)

    def copy(self) -> Job:
        return replace(self, progress=dict(self.progress), result=None if self.result is None else dict(self.result))

    # -- transitions -----------------------------------------------------------------

    def _move(self, target: JobStatus, now: datetime) -> None:
        if (self.status, target) not in TRANSITIONS:
            raise IllegalTransition(self.status.value, target.value)
        self.status = target
        self.updated_at = now

    def start(self, now: datetime, *, worker_id: str, lease: timedelta) -> None:
        """Claim the job for one attempt. Counts the attempt and takes a lease."""
        if self.status is JobStatus.PENDING and not self.is_due(now):
            raise IllegalTransition("pending", "processing", reason="the job is not due yet")
        if self.status is JobStatus.PENDING and self.attempts >= self.max_attempts:
            raise IllegalTransition("pending", "processing", reason="the job has no attempts left")
        self._move(JobStatus.PROCESSING, now)
        self.attempts += 1
        self.started_at = now
        self.completed_at = None
        self.locked_by = worker_id
        self.lease_expires_at = now + lease

    def renew_lease(self, now: datetime, lease: timedelta) -> None:
        if self.status is not JobStatus.PROCESSING:
            raise IllegalTransition(self.status.value, "processing", reason=f"a {self.status} job holds no lease")
        self.lease_expires_at = now + lease
        self.updated_at = now

    def report_progress(self, now: datetime, progress: dict[str, Any]) -> None:
        if self.status is not JobStatus.PROCESSING:
            raise IllegalTransition(self.status.value, "processing", reason=f"a {self.status} job makes no progress")
        self.progress = dict(progress)
        self.updated_at = now

    def complete(self, now: datetime, result: dict[str, Any]) -> None:
        self._move(JobStatus.COMPLETED, now)
        self.result = dict(result)
        self.error_message = None
        self.completed_at = now
        self.scheduled_for = None
        self._release()

    def fail(self, now: datetime, message: str) -> None:
        self._move(JobStatus.FAILED, now)
        self.error_message = message
        self.completed_at = now
        self.scheduled_for = None
        self._release()

    def schedule_retry(self, now: datetime, run_at: datetime, message: str) -> None:
        """Automatic retry after a transient failure; only while attempts are left."""
        if self.status is JobStatus.PROCESSING and self.attempts >= self.max_attempts:
            raise IllegalTransition("processing", "pending", reason="the job has no attempts left")
        self._move(JobStatus.PENDING, now)
        self.error_message = message
        self.scheduled_for = max(run_at, now)
        self._release()

    def handle_failure(self, now: datetime, message: str, *, transient: bool, policy: RetryPolicy, rnd: float) -> bool:
        """Fail for good or schedule the next attempt. Returns True when a retry was scheduled."""
        if self.status is not JobStatus.PROCESSING:
            raise IllegalTransition(self.status.value, "failed", reason=f"a {self.status} job cannot fail")
        if transient and self.attempts < self.max_attempts:
            delay = policy.delay(self.attempts, rnd)
            self.schedule_retry(now, now + timedelta(seconds=delay), message)
            return True
        if transient:
            message = f"{message} (gave up after {self.attempts} attempts)"
        self.fail(now, message)
        return False

    def reclaim(self, now: datetime, *, policy: RetryPolicy, rnd: float) -> bool:
        """The worker holding the lease stopped renewing it (crashed, killed, partitioned)."""
        if not self.lease_expired(now):
            raise IllegalTransition(self.status.value, "pending", reason="the job's lease has not expired")
        message = f"worker {self.locked_by or '?'} stopped responding during attempt {self.attempts}"
        if self.attempts < self.max_attempts:
            # The crash already cost time; re-run promptly instead of waiting out a backoff.
            self.schedule_retry(now, now, message)
            return True
        self.fail(now, f"{message} (gave up after {self.attempts} attempts)")
        return False

    def cancel(self, now: datetime) -> None:
        running = self.status is JobStatus.PROCESSING
        self._move(JobStatus.CANCELLED, now)
        self.completed_at = now
        self.scheduled_for = None
        self.error_message = None
        if not running:
            self._release()

    def release_cleanup(self, now: datetime) -> None:
        """The partial output of a job cancelled while running is gone: drop the lease."""
        if not self.cleanup_owed:
            raise IllegalTransition(self.status.value, self.status.value, reason="no clean-up is owed")
        self._release()
        self.updated_at = now

    def retry(self, now: datetime) -> None:
        """Manual retry of a failed or cancelled job, with a fresh attempt budget."""
        if self.status not in RETRYABLE_STATUSES:
            reason = f"only failed or cancelled jobs can be retried, this one is {self.status}"
            raise IllegalTransition(self.status.value, "pending", reason=reason)
        self._move(JobStatus.PENDING, now)
        self._release()
        self.attempts = 0
        # Queued behind what was already waiting at its priority (FIFO by resubmission).
        self.scheduled_for = now
        self.started_at = None
        self.completed_at = None
        self.result = None
        self.error_message = None
        self.progress = {"stage": "queued", "percent": 0}

    def _release(self) -> None:
        self.locked_by = None
        self.lease_expires_at = None


@dataclass(frozen=True, slots=True)
class JobCensus:
    """Every job counted by (type, status), and the oldest pending job's ``run_at``."""

    by_type_and_status: dict[tuple[str, str], int]
    oldest_pending_run_at: datetime | None
