"""Keeping the queue honest: re-dispatch, reclaim crashed jobs, clean up old ones.

The jobs table is the truth and the queue may lose or delay tickets, so a reconciler
runs on start-up and then every few seconds in every worker:

* a pending job no worker took within ``grace`` is dispatched again (queues dedupe);
* a processing job whose lease expired (its worker was killed, hung or cut off) goes
  back to pending with the attempt counted, or fails when it has none left;
* terminal jobs older than ``JOB_CLEANUP_DAYS`` are deleted, and so are finished
  webhook deliveries; idempotency keys older than ``IDEMPOTENCY_TTL_HOURS`` are forgotten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import IllegalTransition, NotFound
from domain.jobs import Job, JobStatus
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import clean_up_cancelled, update_job

log = logging.getLogger("sluice.maintenance")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    dispatched: int
    reclaimed: int
    failed: int


class Maintenance:
    def __init__(self, ports: Ports, config: ServiceConfig, *, batch: int = 500) -> None:
        self._ports = ports
        self._config = config
        self._batch = batch

    async def reconcile(self, *, grace_seconds: float = 30.0) -> ReconcileReport:
        reclaimed, failed = await self.reclaim_expired()
        now = self._ports.clock.now()
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            pending = await uow.jobs.pending(limit=self._batch, updated_before=now - timedelta(seconds=grace_seconds))
        dispatched = 0
        for job in pending:
            dispatched += await self._ports.dispatch(job)
        return ReconcileReport(dispatched=dispatched, reclaimed=reclaimed, failed=failed)

    async def dispatch_all_pending(self) -> int:
        """On start-up: hand every pending job to the (possibly empty) queue."""
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            pending = await uow.jobs.pending(limit=1_000_000)
        count = 0
        for job in pending:
            count += await self._ports.dispatch(job)
        return count

    async def reclaim_expired(self) -> tuple[int, int]:
        now = self._ports.clock.now()
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            expired = await uow.jobs.expired_leases(now, limit=self._batch)
        reclaimed = failed = 0
        for stale in expired:
            if stale.cleanup_owed:
                # Cancelled while running, and its worker died before cleaning up.
                await clean_up_cancelled(self._ports, stale)
                continue

            def reclaim(job: Job) -> None:
                job.reclaim(now, policy=self._config.retry, rnd=self._ports.random.random())

            try:
                job = await update_job(self._ports, stale.id, reclaim)
            except (NotFound, IllegalTransition):
                continue  # finished, renewed or deleted meanwhile
            log.warning("job %s: %s", job.id, job.error_message)
            if job.status is JobStatus.PENDING:
                reclaimed += 1
                await self._ports.dispatch(job)
            else:
                failed += 1
        return reclaimed, failed

    async def cleanup(self) -> int:
        """Delete terminal jobs, and delivered or failed webhook deliveries, that finished
        more than ``cleanup_days`` ago. Returns the number of jobs deleted."""
        cutoff = self._ports.clock.now() - timedelta(days=self._config.cleanup_days)
        total = 0
        while True:
            async with self._ports.store.unit_of_work() as uow:
                deleted = await uow.jobs.delete_finished_before(cutoff, limit=self._batch)
                await uow.commit()
            total += deleted
            if deleted < self._batch:
                break
        while True:
            async with self._ports.store.unit_of_work() as uow:
                pruned = await uow.deliveries.delete_finished_before(cutoff, limit=self._batch)
                await uow.commit()
            if pruned < self._batch:
                break
        await self.forget_idempotency_keys()
        return total

    async def forget_idempotency_keys(self) -> int:
        """Delete idempotency records older than ``IDEMPOTENCY_TTL_HOURS``; how many."""
        cutoff = self._ports.clock.now() - timedelta(seconds=self._config.idempotency_ttl_seconds)
        total = 0
        while True:
            async with self._ports.store.unit_of_work() as uow:
                deleted = await uow.idempotency.delete_created_before(cutoff, limit=self._batch)
                await uow.commit()
            total += deleted
            if deleted < self._batch:
                return total
