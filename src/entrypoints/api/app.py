"""The Litestar application: routes, dependencies, error mapping, lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

import sluice
from entrypoints.api.agents import AgentController
from entrypoints.api.errors import EXCEPTION_HANDLERS
from entrypoints.api.jobs import AgentJobController, JobController
from entrypoints.api.openapi import document_errors
from entrypoints.api.operations import health, latency_middleware, metrics, ready
from entrypoints.api.realtime import RealtimeController
from entrypoints.api.search import SearchController
from entrypoints.api.sources import SourceController
from entrypoints.api.uploads import document_upload
from entrypoints.api.webhooks import WebhookController
from entrypoints.container import Container, build_container
from entrypoints.runtime import Worker, close, migrate
from entrypoints.settings import Settings

log = logging.getLogger("sluice.api")


def _provide(factory: Any) -> Provide:
    return Provide(lambda: factory(), sync_to_thread=False)


def create_app(
    container: Container | None = None,
    *,
    run_worker: bool = True,
    migrate_on_start: bool | None = None,
    debug: bool = False,
) -> Litestar:
    """Build the API. With ``run_worker`` the same process also runs jobs (integrated mode)."""
    container = container or build_container()
    settings: Settings = container.settings()
    if migrate_on_start is None:
        migrate_on_start = settings.is_embedded_store

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if migrate_on_start:
            await migrate(container)
        worker = Worker(container) if run_worker else None
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await close(container)

    # JSON escapes can make a text body several times its decoded size; the text limit
    # itself is checked after decoding, with a message that names it.
    body_limit = settings.limits.max_text_bytes * 6 + (1 << 20)

    app = Litestar(
        route_handlers=[
            health,
            ready,
            metrics,
            AgentController,
            SourceController,
            JobController,
            AgentJobController,
            SearchController,
            RealtimeController,
            WebhookController,
        ],
        dependencies={
            "agents": _provide(container.agents),
            "sources": _provide(container.sources),
            "jobs": _provide(container.jobs),
            "search": _provide(container.search),
            "watch": _provide(container.watch),
            "webhooks": _provide(container.webhooks),
            "operations": _provide(container.operations),
            "telemetry": _provide(container.telemetry),
            "service_config": _provide(container.config),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[latency_middleware(container.telemetry())],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Sluice",
            version=sluice.__version__,
            description="Ingestion service for AI agents: sources in, searchable vectors out, as tracked jobs.",
            path="/schema",
        ),
        request_max_body_size=body_limit,
        debug=debug,
        # Logging is configured once for the process (entrypoints.logs), not per app.
        logging_config=None,
        state=State({"container": container}),
    )
    document_errors(app.openapi_schema)
    document_upload(app.openapi_schema, "/api/agents/{agent_id}/sources/file")
    return app
