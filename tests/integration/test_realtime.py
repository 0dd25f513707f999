"""Real-time updates over SSE and WebSocket on the embedded adapters."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings

TEXT = "\n\n".join(f"Paragraph {i}: the quick brown fox jumps over the lazy dog again." for i in range(400))


@pytest.fixture
async def client(tmp_path):
    settings = Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data"), "EMBED_BATCH_SIZE": "8"})
    app = create_app(build_container(settings))
    async with AsyncTestClient(app, timeout=30) as client:
        yield client


def parse_sse(raw: str) -> list[dict]:
    events = []
    for block in raw.split("\r\n\r\n" if "\r\n\r\n" in raw else "\n\n"):
        lines = [line for line in block.splitlines() if line.startswith(("event:", "data:"))]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
        if kind == "job_status_update" and data:
            events.append(json.loads(data))
    return events


async def test_subscribe_info(client):
    agent = (await client.post("/api/agents", json={"name": "rt"})).json()["data"]
    source = (await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "hello"})).json()["data"]
    info = (await client.get(f"/api/realtime/jobs/{source['jobId']}/subscribe")).json()["data"]
    assert info["channel"] == f"job_{source['jobId']}" and info["event"] == "job_status_update"
    assert info["sseUrl"].endswith(f"/api/realtime/jobs/{source['jobId']}/events")
    assert info["websocketUrl"].startswith("ws") and "errorMessage" in info["payload"]
    agent_info = (await client.get(f"/api/realtime/agents/{agent['id']}/subscribe")).json()["data"]
    assert agent_info["channel"] == f"agent_{agent['id']}"
    assert (await client.get(f"/api/realtime/jobs/{uuid.uuid4()}/subscribe")).status_code == 404
    assert (await client.get(f"/api/realtime/jobs/{uuid.uuid4()}/events")).status_code == 404


async def test_sse_shows_the_job_from_pending_to_completed(client):
    agent = (await client.post("/api/agents", json={"name": "rt"})).json()["data"]
    source = (
        await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": TEXT, "chunkSize": 16})
    ).json()["data"]
    async with asyncio.timeout(30):
        response = await client.get(f"/api/realtime/jobs/{source['jobId']}/events")
    events = parse_sse(response.text)
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "completed", statuses
    assert "processing" in statuses
    percents = [e["progress"].get("percent", 0) for e in events if e["status"] == "processing"]
    assert percents == sorted(percents) and len(percents) >= 3
    assert all(e["jobId"] == source["jobId"] and e["agentId"] == agent["id"] for e in events)


async def test_websocket_streams_the_same_events(client):
    agent = (await client.post("/api/agents", json={"name": "rt"})).json()["data"]
    source = (
        await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": TEXT, "chunkSize": 16})
    ).json()["data"]
    statuses = []
    async with asyncio.timeout(30):
        with await client.websocket_connect(f"/api/realtime/jobs/{source['jobId']}/ws") as ws:
            while True:
                message = ws.receive_json()
                statuses.append(message["data"]["status"])
                if message["data"]["status"] in {"completed", "failed", "cancelled"}:
                    break
    assert statuses[-1] == "completed" and message["event"] == "job_status_update"
