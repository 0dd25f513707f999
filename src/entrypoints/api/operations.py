"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

import sluice
from adapters.prometheus.telemetry import PrometheusTelemetry, monotonic
from domain.services.operations import OperationsService
from entrypoints.api.schemas import Camel, Health, Ok


class ReadyCheck(Camel, kw_only=True):
    name: str
    ok: bool
    detail: str


class Readiness(Camel, kw_only=True):
    ready: bool
    checks: list[ReadyCheck]


@get("/health", tags=["operations"], summary="The process is up", opt={"public": True})
async def health() -> Ok[Health]:
    return Ok(data=Health(status="ok", version=sluice.__version__))


@get(
    "/ready",
    tags=["operations"],
    summary="Database, queue and vector index reachable (503 otherwise)",
    opt={"public": True},
)
async def ready(operations: NamedDependency[OperationsService]) -> Response[Ok[Readiness]]:
    checks = await operations.readiness()
    body = Readiness(
        ready=all(c.ok for c in checks),
        checks=[ReadyCheck(name=c.name, ok=c.ok, detail=c.detail) for c in checks],
    )
    return Response(Ok(success=body.ready, data=body), status_code=200 if body.ready else 503)


@get("/metrics", tags=["operations"], summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
async def metrics(
    operations: NamedDependency[OperationsService], telemetry: NamedDependency[PrometheusTelemetry]
) -> Response[bytes]:
    try:
        snapshot = await operations.snapshot()
        telemetry.table(snapshot.census, snapshot.depth, snapshot.chunk_totals)
    except Exception:  # the process metrics are still worth serving without the table
        pass
    return Response(telemetry.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def latency_middleware(telemetry: PrometheusTelemetry):
    """ASGI middleware observing each request's latency by route template and status."""

    def factory(app):
        async def middleware(scope, receive, send):
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = {"code": 500}

            async def capture(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            started = monotonic()
            try:
                await app(scope, receive, capture)
            finally:
                route = scope.get("path_template") or "unmatched"
                telemetry.request_done(scope["method"], route, status["code"], monotonic() - started)

        return middleware

    return factory
