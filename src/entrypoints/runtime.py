"""Starting and stopping Sluice: migrations, the worker loops, closing adapters.

Used by ``sluice serve`` (API with its integrated worker), ``sluice worker`` and the
library facade, so all three bring the system up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from entrypoints.container import Container

log = logging.getLogger("sluice.runtime")

CLEANUP_SECONDS = 3600


async def migrate(container: Container) -> None:
    """Bring the database schema up to date (Alembic)."""
    from adapters.sqlalchemy.migrations import upgrade

    settings = container.settings()
    if settings.is_embedded_store:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.store_url)


class Worker:
    """Consumes the queue and keeps it honest (reconcile, reclaim, clean up)."""

    def __init__(
        self, container: Container, *, concurrency: int | None = None, grace_seconds: float | None = None
    ) -> None:
        self._c = container
        settings = container.settings()
        self.concurrency = concurrency or settings.jobs.concurrency
        self._interval = settings.jobs.reconcile_seconds
        self._grace = settings.jobs.orphan_seconds if grace_seconds is None else grace_seconds
        self._webhook_poll = settings.webhooks.poll_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._warm: asyncio.Task[None] | None = None

    async def _warm_extractor(self) -> None:
        """Start a child extraction process ahead of the first file (it imports PDFium)."""
        warm = getattr(self._c.extractor(), "warm", None)
        if warm is not None:
            try:
                await warm()
            except Exception:
                log.warning("could not start an extraction process ahead of time", exc_info=True)

    async def start(self) -> None:
        maintenance = self._c.maintenance()
        reclaimed, failed = await maintenance.reclaim_expired()
        dispatched = await maintenance.dispatch_all_pending()
        log.info(
            "worker %s: %d pending job(s) dispatched, %d reclaimed, %d failed on start-up",
            self._c.config().worker_id,
            dispatched,
            reclaimed,
            failed,
        )
        queue = self._c.queue()
        # Reconciling runs in every worker (it must notice a dead one quickly); clean-up
        # runs once per interval across all of them.
        queue.every("cleanup", CLEANUP_SECONDS, self._cleanup)
        await queue.start(self._c.runner().run, concurrency=self.concurrency)
        self._tasks.append(asyncio.create_task(self._every(self._interval, self._reconcile), name="sluice-reconcile"))
        # Not waited for at stop: cancelled, since it only saves the first file a start-up.
        self._warm = asyncio.create_task(self._warm_extractor(), name="sluice-warm-extractor")
        # Every worker sends webhook deliveries; claims keep two from sending one twice.
        self._tasks.append(
            asyncio.create_task(self._every(self._webhook_poll, self._deliver_webhooks), name="sluice-webhooks")
        )

    async def _reconcile(self) -> None:
        await self._c.maintenance().reconcile(grace_seconds=self._grace)

    async def _deliver_webhooks(self) -> None:
        await self._c.deliverer().deliver_due()

    async def _cleanup(self) -> None:
        deleted = await self._c.maintenance().cleanup()
        if deleted:
            log.info("deleted %d finished job(s) older than JOB_CLEANUP_DAYS", deleted)

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            try:
                await action()
            except Exception:
                log.warning("%s failed; trying again in %.0fs", action.__name__, seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def stop(self, timeout: float = 10.0) -> None:
        # Let a round in progress end (a webhook send is bounded by its timeout) rather
        # than cut it: a cut send leaves a claim that delays the delivery and may repeat it.
        self._stopping.set()
        if self._warm is not None:
            self._warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._c.queue().stop(timeout=timeout)


async def close(container: Container) -> None:
    """Close the adapters that hold connections, files or threads."""
    for name in ("queue", "notifier", "embedder", "vectors", "webhook_sender", "store", "extractor", "blobs"):
        try:
            closer = getattr(getattr(container, name)(), "close", None)
            if closer is not None:
                await closer()
        except Exception:
            log.warning("closing the %s failed", name, exc_info=True)
