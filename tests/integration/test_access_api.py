"""Authentication, tenant scope, idempotency and limits over HTTP (embedded adapters).

The acceptance walk enumerates the app's own route table, so a route added later is
walked too (and fails here until it has a sample request below).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings

ADMIN = "admin-key-for-tests-0123456789"
WRONG = "slk_" + "x" * 43

# A request that succeeds for each route that needs a body. A new POST/PUT route
# fails the walk until it gets one here.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/agents"): {"json": {"name": "walked"}},
    ("POST", "/api/agents/{agent_id}/sources/text"): {"json": {"text": "Lighthouses warn ships at night."}},
    ("POST", "/api/agents/{agent_id}/sources/file"): {
        "files": {"file": ("keepers.md", b"# Keepers\n\nLighthouse keepers trimmed the wicks.\n", "text/markdown")}
    },
    # Accepted and queued (no worker runs here): the address is checked when the source is created.
    ("POST", "/api/agents/{agent_id}/sources/website"): {"json": {"url": "http://93.184.215.14/docs/"}},
    ("POST", "/api/agents/{agent_id}/search"): {"json": {"query": "lighthouse"}},
    ("PUT", "/api/agents/{agent_id}/webhook"): {"json": {"url": "https://hooks.example.com/in"}},
}
# Routes that need the world's job to be finished first (a retry, a re-run).
NEEDS_FINISHED_JOB = {
    ("POST", "/api/jobs/{job_id}/retry"),
    ("POST", "/api/agents/{agent_id}/sources/{source_id}/reprocess"),
}
NO_BODY_METHODS = {"GET", "DELETE"}


def settings_for(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data"), "SLUICE_ADMIN_API_KEY": ADMIN, **env})


@pytest.fixture
async def client(tmp_path) -> AsyncIterator[AsyncTestClient]:
    # No worker: jobs stay pending, so cancel and retry have something to act on.
    application = create_app(build_container(settings_for(tmp_path)), run_worker=False)
    async with AsyncTestClient(application) as test_client:  # runs the lifespan (migrations)
        yield test_client


@pytest.fixture
def app(client: AsyncTestClient) -> Litestar:
    return client.app


def bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


async def call(app: Litestar, method: str, url: str, key: str | None = None, **request: Any) -> tuple[int, bytes]:
    """One HTTP request straight through ASGI: the status, and the body unless it streams.

    A stream (SSE) is left as soon as it starts, so never-ending streams can be walked.
    """
    built = httpx.Request(method, "http://test" + url, headers=bearer(key), **request)
    body = built.read()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": built.url.path,
        "raw_path": built.url.raw_path.split(b"?")[0],
        "query_string": built.url.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in built.headers.raw],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    sent = False
    status: dict[str, Any] = {}
    chunks: list[bytes] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
            headers = dict(message.get("headers", []))
            status["stream"] = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if status.get("stream") or not message.get("more_body"):
                done.set()

    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    async with asyncio.timeout(20):
        await done.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return status["code"], b"".join(chunks)


@dataclass
class World:
    agent: str
    key: str
    source: str
    job: str
    other_key: str


async def make_world(client: AsyncTestClient, *, finished_job: bool = False) -> World:
    admin = bearer(ADMIN)
    agent = (await client.post("/api/agents", json={"name": "mine"}, headers=admin)).json()["data"]
    other = (await client.post("/api/agents", json={"name": "theirs"}, headers=admin)).json()["data"]
    source = (
        await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "hello world"}, headers=admin)
    ).json()["data"]
    hook = await client.put(
        f"/api/agents/{agent['id']}/webhook", json={"url": "https://hooks.example.com/in"}, headers=admin
    )
    assert hook.status_code == 200, hook.text
    if finished_job:
        assert (await client.delete(f"/api/jobs/{source['jobId']}", headers=admin)).status_code == 200
    return World(agent["id"], agent["apiKey"], source["id"], source["jobId"], other["apiKey"])


def routes(app: Litestar) -> list[tuple[str, str, bool, bool]]:
    """(method, path template, is websocket, is public) of every route the app serves.

    Public: marked so (``opt={"public": True}``: health, readiness, pages holding no
    data) or the OpenAPI document."""
    schema_path = app.openapi_config.path if app.openapi_config else None
    found = []
    for route in app.routes:
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        in_schema = bool(schema_path) and template.startswith(str(schema_path))
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in sorted(route.route_handler_map.items()):
                if method not in {"HEAD", "OPTIONS"}:
                    found.append((method, template, False, in_schema or bool(handler.opt.get("public"))))
        elif isinstance(route, WebSocketRoute):
            found.append(("WS", template, True, bool(route.route_handler.opt.get("public"))))
    return found


# Path parameters of public routes (the OpenAPI document's and static files').
PUBLIC_PARAMS = {"path": "openapi.json", "file_path": "app.js"}


# The only routes marked public: the dashboard's page and assets hold no data (the page
# fetches it with the user's key).
PUBLIC_ROUTES = {"/health", "/ready", "/", "/dashboard/{file_path}"}


def test_only_the_listed_routes_are_marked_public(app: Litestar):
    marked = {
        re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for route in app.routes
        for handler in (route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler])  # type: ignore[attr-defined]
        if handler.opt.get("public")
    }
    assert marked == PUBLIC_ROUTES, "a route became public (or stopped being) without being listed here"


def fill(template: str, world: World) -> str:
    values = {"agent_id": world.agent, "source_id": world.source, "job_id": world.job}
    missing = set(re.findall(r"\{(\w+)\}", template)) - values.keys()
    assert not missing, f"{template}: the walk has no value for {missing}; add one to fill()"
    return template.format(**values)


async def ws_outcome(client: AsyncTestClient, url: str, key: str | None) -> int:
    """The close code a WebSocket gets (4xxx), or 101 when it is accepted."""
    headers = bearer(key)
    try:
        with await client.websocket_connect(url, headers=headers):
            return 101
    except WebSocketDisconnect as exc:
        return exc.code


async def test_every_route_answers_401_401_404_2xx(app: Litestar, client: AsyncTestClient):
    walked = 0
    for method, template, websocket, public in routes(app):
        if public:
            missing = set(re.findall(r"\{(\w+)\}", template)) - PUBLIC_PARAMS.keys()
            assert not missing, f"{template}: the walk has no value for {missing}; add one to PUBLIC_PARAMS"
            status, _ = await call(app, method, template.format(**PUBLIC_PARAMS))
            assert status == 200, f"public {method} {template} answered {status}"
            walked += 1
            continue
        needs_finished = (method, template) in NEEDS_FINISHED_JOB
        world = await make_world(client, finished_job=needs_finished)
        url = fill(template, world)
        agent_scoped = "{agent_id}" in template or "{job_id}" in template
        right = world.key if agent_scoped else ADMIN
        if websocket:
            outcomes = [await ws_outcome(client, url, key) for key in (None, WRONG, world.other_key, right)]
            assert outcomes == [4401, 4401, 4404, 101], f"WS {template}: {outcomes}"
            walked += 1
            continue
        request: dict[str, Any] = {}
        if method not in NO_BODY_METHODS:
            sample = SAMPLES.get((method, template))
            has_body = any(p in template for p in ("/retry", "/reprocess", "/rotate"))
            assert sample is not None or has_body, f"no sample request for {method} {template}: add one to SAMPLES"
            request = sample or {}
        statuses = []
        for key in (None, WRONG, world.other_key, right):
            status, body = await call(app, method, url, key, **request)
            statuses.append(status)
            if status in {401, 404}:
                assert b'"success":false' in body and b'"code":' in body, body
        assert statuses[:3] == [401, 401, 404], f"{method} {template}: {statuses}"
        assert 200 <= statuses[3] < 300, f"{method} {template} with the right key: {statuses}"
        walked += 1
    # The routes this branch knows of; other branches add more, never fewer.
    assert walked >= 30, walked
    print(f"walked {walked} routes")


async def test_unauthenticated_answers_carry_the_envelope_and_a_challenge(client: AsyncTestClient):
    response = await client.get("/api/agents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    wrong = await client.get("/api/agents", headers={"Authorization": "Basic YWRtaW46cGFzcw=="})
    assert wrong.status_code == 401


async def test_an_agent_key_reaches_its_own_things_only(client: AsyncTestClient):
    world = await make_world(client)
    mine = bearer(world.key)
    assert (await client.get(f"/api/agents/{world.agent}", headers=mine)).status_code == 200
    assert (await client.get(f"/api/jobs/{world.job}", headers=mine)).json()["data"]["agentId"] == world.agent
    theirs = bearer(world.other_key)
    for url in (f"/api/agents/{world.agent}", f"/api/jobs/{world.job}", f"/api/agents/{world.agent}/jobs"):
        response = await client.get(url, headers=theirs)
        assert response.status_code == 404 and response.json()["success"] is False
    # Unknown ids and another agent's ids look the same.
    assert (await client.get(f"/api/jobs/{uuid.uuid4()}", headers=theirs)).status_code == 404
    # Admin-only routes: 404 for any agent key.
    assert (await client.get("/api/agents", headers=mine)).status_code == 404
    assert (await client.post("/api/agents", json={"name": "x"}, headers=mine)).status_code == 404
    assert (await client.get("/metrics", headers=mine)).status_code == 404
    assert (await client.get("/metrics", headers=bearer(ADMIN))).status_code == 200


async def test_search_filters_only_narrow_to_the_agents_own_sources(client: AsyncTestClient, app: Litestar):
    world = await make_world(client)
    other = (await client.get("/api/agents", headers=bearer(ADMIN))).json()["data"]
    other_id = next(a["id"] for a in other if a["name"] == "theirs")
    theirs = (
        await client.post(
            f"/api/agents/{other_id}/sources/text", json={"text": "secret lighthouse"}, headers=bearer(world.other_key)
        )
    ).json()["data"]
    # Asking for the other agent's source through my own agent finds nothing of theirs.
    hits = await client.post(
        f"/api/agents/{world.agent}/search",
        json={"query": "lighthouse", "sourceIds": [theirs["id"]]},
        headers=bearer(world.key),
    )
    assert hits.status_code == 200 and hits.json()["data"] == []


async def test_a_caller_cannot_choose_a_namespace(client: AsyncTestClient):
    created = (
        await client.post("/api/agents", json={"name": "n", "namespace": "agent-stolen"}, headers=bearer(ADMIN))
    ).json()["data"]
    assert created["namespace"] == f"agent-{created['id']}"


async def test_rotation_replaces_the_key_and_an_agent_may_rotate_its_own(client: AsyncTestClient):
    world = await make_world(client)
    url = f"/api/agents/{world.agent}/keys/rotate"
    assert (await client.post(url, headers=bearer(world.other_key))).status_code == 404
    rotated = await client.post(url, headers=bearer(world.key))
    assert rotated.status_code == 200
    new_key = rotated.json()["data"]["apiKey"]
    assert new_key.startswith("slk_") and new_key != world.key
    assert (await client.get(f"/api/agents/{world.agent}", headers=bearer(world.key))).status_code == 401
    assert (await client.get(f"/api/agents/{world.agent}", headers=bearer(new_key))).status_code == 200
    by_admin = await client.post(url, headers=bearer(ADMIN))
    assert by_admin.status_code == 200
    assert (await client.get(f"/api/agents/{world.agent}", headers=bearer(new_key))).status_code == 401


async def test_streams_take_the_key_as_access_token_and_other_routes_do_not(app: Litestar, client: AsyncTestClient):
    world = await make_world(client)
    status, body = await call(app, "GET", f"/api/realtime/jobs/{world.job}/events?access_token={world.key}")
    assert status == 200 and b"job_status_update" in body
    status, _ = await call(app, "GET", f"/api/realtime/agents/{world.agent}/events?access_token={world.other_key}")
    assert status == 404
    status, _ = await call(app, "GET", f"/api/jobs/{world.job}?access_token={world.key}")
    assert status == 401
    code = await ws_outcome(client, f"/api/realtime/jobs/{world.job}/ws?access_token={world.key}", None)
    assert code == 101


async def test_idempotent_text_creation_over_http(client: AsyncTestClient):
    world = await make_world(client)
    url = f"/api/agents/{world.agent}/sources/text"
    headers = {**bearer(world.key), "Idempotency-Key": "order-42"}
    body = {"text": "exactly once", "metadata": {"b": 1, "a": 2}}
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    # Same body with its keys in another order: the same request.
    again = await client.post(url, json={"metadata": {"a": 2, "b": 1}, "text": "exactly once"}, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert (again.json()["data"]["id"], again.json()["data"]["jobId"]) == (
        first.json()["data"]["id"],
        first.json()["data"]["jobId"],
    )
    other = await client.post(url, json={"text": "something else"}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    listed = (await client.get(f"/api/agents/{world.agent}/sources", headers=bearer(world.key))).json()["data"]
    assert len([s for s in listed if s["name"] == "exactly once"]) == 1
    too_long = await client.post(url, json=body, headers={**bearer(world.key), "Idempotency-Key": "k" * 300})
    assert too_long.status_code == 400


async def test_racing_retries_over_http_create_one_source(client: AsyncTestClient):
    world = await make_world(client)
    url = f"/api/agents/{world.agent}/sources/text"
    headers = {**bearer(world.key), "Idempotency-Key": "burst"}
    answers = await asyncio.gather(*(client.post(url, json={"text": "burst"}, headers=headers) for _ in range(6)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["data"]["id"] for a in answers}) == 1


async def test_limits_name_the_setting_that_was_hit(tmp_path):
    settings = settings_for(tmp_path, MAX_PAGE_SIZE="10", MAX_NAME_CHARS="12", MAX_REQUEST_BODY_MB="0.01")
    app = create_app(build_container(settings), run_worker=False)
    async with AsyncTestClient(app) as client:
        admin = bearer(ADMIN)
        page = await client.get("/api/agents?limit=11", headers=admin)
        assert page.status_code == 400 and "MAX_PAGE_SIZE" in page.json()["error"]["message"]
        assert (await client.get("/api/agents?limit=10", headers=admin)).status_code == 200
        name = await client.post("/api/agents", json={"name": "thirteen char"}, headers=admin)
        assert name.status_code == 400 and "MAX_NAME_CHARS" in name.json()["error"]["message"]
        agent = (await client.post("/api/agents", json={"name": "ok"}, headers=admin)).json()["data"]
        big = await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "x" * 20_000}, headers=admin)
        assert big.status_code == 413 and "MAX_REQUEST_BODY_MB" in big.json()["error"]["message"]


def test_an_admin_key_must_be_long_enough():
    with pytest.raises(Exception, match="SLUICE_ADMIN_API_KEY"):
        Settings.from_env({"SLUICE_ADMIN_API_KEY": "short"})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_serve_without_an_admin_key_refuses_a_non_loopback_host(host, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from entrypoints.cli import main

    monkeypatch.delenv("SLUICE_ADMIN_API_KEY", raising=False)
    monkeypatch.setenv("SLUICE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--host", host, "--port", "1"])
    assert result.exit_code == 2
    assert f"refusing to listen on {host}" in result.output and "SLUICE_ADMIN_API_KEY" in result.output


def test_loopback_addresses_are_told_apart():
    from entrypoints.cli import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", "127.0.0.1.nip.io"))
