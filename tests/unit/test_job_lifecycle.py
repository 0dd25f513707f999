"""The job state machine: every legal path, no illegal state, bounded retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.errors import IllegalTransition, InvalidInput
from domain.jobs import TERMINAL_STATUSES, TRANSITIONS, Job, JobStatus, JobType
from domain.retry import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=10)
POLICY = RetryPolicy(base_seconds=1, cap_seconds=60)


def new_job(max_attempts: int = 3, type: JobType = JobType.PROCESS_TEXT) -> Job:
    return Job.new(source_id=uuid.uuid4(), agent_id=uuid.uuid4(), type=type, now=T0, max_attempts=max_attempts)


def test_default_priorities():
    assert JobType.PROCESS_TEXT.default_priority == 10
    assert JobType.PROCESS_FILE.default_priority == 5
    assert JobType.CRAWL_WEBSITE.default_priority == 3
    assert new_job(type=JobType.PROCESS_FILE).priority == 5


def test_priority_out_of_range_is_refused():
    with pytest.raises(InvalidInput):
        Job.new(
            source_id=uuid.uuid4(),
            agent_id=uuid.uuid4(),
            type=JobType.PROCESS_TEXT,
            now=T0,
            max_attempts=3,
            priority=101,
        )


def test_happy_path_stamps_times():
    job = new_job()
    job.start(T0 + timedelta(seconds=1), worker_id="w", lease=LEASE)
    assert job.status is JobStatus.PROCESSING and job.attempts == 1
    assert job.started_at == T0 + timedelta(seconds=1) and job.lease_expires_at == T0 + timedelta(seconds=11)
    job.complete(T0 + timedelta(seconds=2), {"chunks": 3})
    assert job.status is JobStatus.COMPLETED and job.completed_at == T0 + timedelta(seconds=2)
    assert job.updated_at == job.completed_at and job.locked_by is None and job.result == {"chunks": 3}


def test_cancelling_a_running_job_keeps_its_lease_until_the_clean_up():
    job = new_job()
    job.start(T0, worker_id="w", lease=LEASE)
    job.cancel(T0)
    assert job.status is JobStatus.CANCELLED and job.cleanup_owed and job.locked_by == "w"
    assert job.lease_expired(T0 + LEASE)
    job.release_cleanup(T0)
    assert not job.cleanup_owed and job.lease_expires_at is None
    with pytest.raises(IllegalTransition):
        job.release_cleanup(T0)
    pending = new_job()
    pending.cancel(T0)
    assert not pending.cleanup_owed


def test_retrying_a_completed_job_is_illegal():
    job = new_job()
    job.start(T0, worker_id="w", lease=LEASE)
    job.complete(T0, {})
    with pytest.raises(IllegalTransition):
        job.retry(T0)
    with pytest.raises(IllegalTransition):
        job.cancel(T0)


def test_transient_failure_schedules_a_retry_until_attempts_run_out():
    job = new_job(max_attempts=2)
    job.start(T0, worker_id="w", lease=LEASE)
    assert job.handle_failure(T0, "timeout", transient=True, policy=POLICY, rnd=1.0)
    assert job.status is JobStatus.PENDING and job.scheduled_for == T0 + timedelta(seconds=1)
    assert not job.is_due(T0) and job.is_due(T0 + timedelta(seconds=1))
    with pytest.raises(IllegalTransition):
        job.start(T0, worker_id="w", lease=LEASE)
    job.start(T0 + timedelta(seconds=1), worker_id="w", lease=LEASE)
    assert not job.handle_failure(T0, "timeout", transient=True, policy=POLICY, rnd=1.0)
    assert job.status is JobStatus.FAILED and "gave up after 2 attempts" in (job.error_message or "")


def test_permanent_failure_fails_at_once():
    job = new_job()
    job.start(T0, worker_id="w", lease=LEASE)
    assert not job.handle_failure(T0, "not a PDF", transient=False, policy=POLICY, rnd=0.5)
    assert job.status is JobStatus.FAILED and job.error_message == "not a PDF" and job.attempts == 1


def test_manual_retry_gives_a_fresh_budget():
    job = new_job(max_attempts=1)
    job.start(T0, worker_id="w", lease=LEASE)
    job.fail(T0, "bad")
    job.retry(T0 + timedelta(seconds=5))
    assert job.status is JobStatus.PENDING and job.attempts == 0 and job.error_message is None
    assert job.is_due(T0 + timedelta(seconds=5))


def test_expired_lease_is_reclaimed_with_the_attempt_counted():
    job = new_job(max_attempts=2)
    job.start(T0, worker_id="w1", lease=LEASE)
    with pytest.raises(IllegalTransition):
        job.reclaim(T0 + timedelta(seconds=5), policy=POLICY, rnd=0.5)
    assert job.reclaim(T0 + LEASE, policy=POLICY, rnd=0.5)
    assert job.status is JobStatus.PENDING and job.attempts == 1 and "w1 stopped responding" in job.error_message
    job.start(T0 + LEASE, worker_id="w2", lease=LEASE)
    assert not job.reclaim(T0 + 3 * LEASE, policy=POLICY, rnd=0.5)
    assert job.status is JobStatus.FAILED


class JobLifecycle(RuleBasedStateMachine):
    """Random operations, legal or not: the job never reaches an illegal state."""

    def __init__(self) -> None:
        super().__init__()
        self.max_attempts = 3
        self.job = new_job(max_attempts=self.max_attempts)
        self.now = T0
        self.auto_attempts_since_manual = 0

    def _try(self, action) -> None:
        before = (self.job.status, self.job.attempts, self.job.version)
        snapshot = self.job.copy()
        try:
            action()
        except IllegalTransition:
            # A refused transition changes nothing.
            assert (self.job.status, self.job.attempts, self.job.version) == before
            assert self.job == snapshot
            return
        assert (before[0], self.job.status) in TRANSITIONS or before[0] == self.job.status

    @rule(seconds=st.integers(0, 120))
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def start(self) -> None:
        self._try(lambda: self.job.start(self.now, worker_id="w", lease=LEASE))

    @rule()
    def complete(self) -> None:
        self._try(lambda: self.job.complete(self.now, {"ok": True}))

    @rule(transient=st.booleans(), rnd=st.floats(0, 1))
    def failure(self, transient: bool, rnd: float) -> None:
        if self.job.status is not JobStatus.PROCESSING:
            with pytest.raises(IllegalTransition):
                self.job.handle_failure(self.now, "x", transient=transient, policy=POLICY, rnd=rnd)
            return
        self._try(lambda: self.job.handle_failure(self.now, "x", transient=transient, policy=POLICY, rnd=rnd))

    @rule()
    def cancel(self) -> None:
        self._try(lambda: self.job.cancel(self.now))

    @rule()
    def manual_retry(self) -> None:
        self._try(lambda: self.job.retry(self.now))

    @rule()
    def clean_up_after_cancel(self) -> None:
        self._try(lambda: self.job.release_cleanup(self.now))

    @precondition(lambda self: self.job.status is JobStatus.PROCESSING)
    @rule(rnd=st.floats(0, 1))
    def lease_runs_out(self, rnd: float) -> None:
        assert self.job.lease_expires_at is not None
        self.now = max(self.now, self.job.lease_expires_at)
        self._try(lambda: self.job.reclaim(self.now, policy=POLICY, rnd=rnd))

    @invariant()
    def attempts_never_exceed_the_budget(self) -> None:
        assert 0 <= self.job.attempts <= self.max_attempts

    @invariant()
    def fields_agree_with_the_status(self) -> None:
        job = self.job
        if job.status is JobStatus.PROCESSING or job.cleanup_owed:
            assert job.locked_by is not None and job.lease_expires_at is not None and job.started_at is not None
        else:
            assert job.locked_by is None and job.lease_expires_at is None
        if job.status in TERMINAL_STATUSES:
            assert job.completed_at is not None
        if job.status is JobStatus.COMPLETED:
            assert job.result is not None and job.error_message is None
        if job.status is JobStatus.FAILED:
            assert job.error_message
        if job.status is JobStatus.PENDING and job.attempts >= self.max_attempts:
            raise AssertionError("a pending job with no attempts left could never run")

    @invariant()
    def timestamps_are_ordered(self) -> None:
        job = self.job
        assert job.created_at <= job.updated_at
        if (
            job.started_at
            and job.completed_at
            and job.status in TERMINAL_STATUSES
            and job.status is not JobStatus.CANCELLED
        ):
            assert job.started_at <= job.completed_at


JobLifecycle.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestJobLifecycle = JobLifecycle.TestCase
