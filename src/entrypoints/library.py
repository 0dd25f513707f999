"""Sluice as a Python library: the same use cases, no HTTP.

::

    async with Sluice.embedded("./data") as sluice:
        agent = await sluice.agents.create_agent("docs")
        source, job = await sluice.sources.create_text_source(agent.id, "Sluice chunks text.")
        await sluice.wait(job.id)
        hits = await sluice.search.search(agent.id, "what does sluice do?")
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from types import TracebackType

from domain.jobs import Job
from domain.services.agents import AgentService
from domain.services.jobs import JobService
from domain.services.search import SearchService
from domain.services.sources import SourceService
from domain.services.webhooks import WebhookService
from entrypoints.container import Container, build_container
from entrypoints.runtime import Worker, close, migrate
from entrypoints.settings import Settings


class Sluice:
    """A running Sluice: services to call, and (unless ``worker=False``) a worker."""

    def __init__(self, container: Container, *, worker: bool = True) -> None:
        self.container = container
        self._run_worker = worker
        self._worker: Worker | None = None

    @classmethod
    def from_env(cls, *, worker: bool = True, **env: str) -> Sluice:
        """Configured like the server: from the environment, plus ``env`` overrides."""
        return cls(build_container(Settings.from_env({**os.environ, **env})), worker=worker)

    @classmethod
    def embedded(cls, data_dir: str | Path, *, worker: bool = True, **env: str) -> Sluice:
        """Everything under one folder: SQLite, blobs, vector index. No services needed."""
        base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_HOST", "REDIS_URL"}}
        return cls(build_container(Settings.from_env({**base, "SLUICE_DATA_DIR": str(data_dir), **env})), worker=worker)

    @property
    def agents(self) -> AgentService:
        return self.container.agents()

    @property
    def sources(self) -> SourceService:
        return self.container.sources()

    @property
    def jobs(self) -> JobService:
        return self.container.jobs()

    @property
    def search(self) -> SearchService:
        return self.container.search()

    @property
    def webhooks(self) -> WebhookService:
        return self.container.webhooks()

    async def start(self) -> Sluice:
        await migrate(self.container)
        if self._run_worker:
            self._worker = Worker(self.container)
            await self._worker.start()
        return self

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        await close(self.container)

    async def wait(self, job_id: uuid.UUID, *, timeout: float = 300.0, poll: float = 0.1) -> Job:
        """Until the job is completed, failed or cancelled (or ``timeout`` passes)."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.jobs.get_job(job_id)
                if job.is_terminal:
                    return job
                await asyncio.sleep(poll)

    async def __aenter__(self) -> Sluice:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


__all__ = ["Sluice"]
