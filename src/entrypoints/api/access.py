"""Authentication and tenant scope, enforced once for every route.

One app-wide guard runs before every handler (HTTP and WebSocket), after routing, so a
route added later is covered without a line of its own:

* ``opt={"public": True}`` routes (``/health``, ``/ready``) and the OpenAPI document are
  open to all.
* Otherwise the caller must authenticate (unless auth is off): ``Authorization: Bearer
  <key>``; SSE and WebSocket routes also take ``?access_token=<key>``, since browsers'
  EventSource and WebSocket cannot set headers. No key or a wrong key: 401.
* A route with an ``agent_id`` in its path is the agent's: an agent key of another agent
  gets 404, as if the agent did not exist. A route with a ``job_id`` is the job's agent's
  (another agent's job: 404). Any other route is the admin's: an agent key gets 404 too
  (agents list and create, ``/metrics``, global lists), so an agent key learns nothing
  about what else exists.
* ``limit`` above ``MAX_PAGE_SIZE`` is refused here, for every list at once.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.exceptions import WebSocketException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from domain.access import OPEN, Principal, bearer_token
from domain.errors import LimitExceeded, NotFound, SluiceError
from domain.services.access import AccessService
from domain.services.jobs import JobService
from entrypoints.api.errors import status_of

PUBLIC = {"public": True}
EVENT_STREAM = "text/event-stream"
QUERY_TOKEN = "access_token"


def _token(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> str | None:
    token = bearer_token(connection.headers.get("authorization"))
    if token is None and (connection.scope["type"] == "websocket" or _is_event_stream(handler)):
        token = connection.query_params.get(QUERY_TOKEN) or None
    return token


def _is_event_stream(handler: BaseRouteHandler) -> bool:
    return str(getattr(handler, "media_type", "")).startswith(EVENT_STREAM)


def _is_open_route(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> bool:
    if handler.opt.get("public"):
        return True
    schema = connection.app.openapi_config
    return schema is not None and bool(schema.path) and connection.scope["path"].startswith(str(schema.path))


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app-wide guard: see the module docstring.

    A WebSocket is refused by closing it with 4000 + the HTTP status (4401, 4404), so
    a client can tell why (a plain error would close it as 4500)."""
    if _is_open_route(connection, handler):
        return
    try:
        await _authorize(connection, handler)
    except SluiceError as exc:
        if connection.scope["type"] != "websocket":
            raise
        raise WebSocketException(detail=exc.message, code=4000 + status_of(exc)) from exc


async def _authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    container = connection.app.state["container"]
    _check_page_size(connection, container.config().limits.max_page_size)
    access: AccessService = container.access()
    principal = await access.authenticate(_token(connection, handler))
    connection.state["principal"] = principal
    if principal.is_admin:
        return
    params = connection.path_params
    if "agent_id" in params:
        agent_id = _uuid(params["agent_id"])
        if agent_id is None or not principal.can_reach(agent_id):
            raise NotFound("agent", params["agent_id"])
    elif "job_id" in params:
        jobs: JobService = container.jobs()
        await jobs.get_job(params["job_id"], agent_id=principal.agent_id)
    else:
        raise NotFound("route", connection.scope["path"])


def _check_page_size(connection: ASGIConnection[Any, Any, Any, Any], limit: int) -> None:
    raw = connection.query_params.get("limit")
    if raw is None:
        return
    try:
        value = int(raw)
    except ValueError:
        return  # not a number: the parameter's own validation says so
    if value > limit:
        raise LimitExceeded("max_page_size", f"limit is {value}; the largest page is {limit} (MAX_PAGE_SIZE)")


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The caller, as the guard authenticated it (a dependency of handlers)."""
    principal = request.state.get("principal")
    return principal if isinstance(principal, Principal) else OPEN


def document_security(app: Litestar) -> None:
    """Declare the bearer scheme in the OpenAPI document: every operation needs it except
    the public ones; SSE operations also accept the ``access_token`` query parameter."""
    schema = app.openapi_schema
    if schema.components is None:
        schema.components = Components()
    schema.components.security_schemes = {
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="The admin key (SLUICE_ADMIN_API_KEY) or an agent's key (slk_...). "
            "Not needed when the server runs without an admin key (auth off, loopback only).",
        ),
        QUERY: SecurityScheme(
            type="apiKey",
            name=QUERY_TOKEN,
            security_scheme_in="query",
            description="The same key, for EventSource and WebSocket clients that cannot set headers.",
        ),
    }
    schema.security = [{BEARER: []}]
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        item = (schema.paths or {}).get(re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        if item is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(item, method.lower(), None)
            if operation is None:
                continue
            if handler.opt.get("public"):
                operation.security = []
            elif _is_event_stream(handler):
                operation.security = [{BEARER: []}, {QUERY: []}]
            else:
                operation.security = [{BEARER: []}]


BEARER = "bearerAuth"
QUERY = "accessToken"
