"""The webhook endpoints on the embedded adapters, with a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from litestar.testing import AsyncTestClient

from domain.webhooks import verify
from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings
from receiver import Receiver


def app_for(tmp_path, **env: str):
    base = {"SLUICE_DATA_DIR": str(tmp_path / "data"), "WEBHOOK_POLL_SECONDS": "0.05"}
    return create_app(build_container(Settings.from_env({**base, **env})))


@pytest.fixture
async def client(tmp_path):
    async with AsyncTestClient(app_for(tmp_path)) as client:
        yield client


async def create_agent(client) -> str:
    return (await client.post("/api/agents", json={"name": "hooked"})).json()["data"]["id"]


async def test_put_answers_with_a_secret_get_never_shows_it_put_again_rotates_it(client):
    agent = await create_agent(client)
    url = f"/api/agents/{agent}/webhook"
    first = await client.put(url, json={"url": "https://hooks.example.com/in", "events": ["failed"]})
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["agentId"] == agent and data["events"] == ["failed"] and data["secret"].startswith("whsec_")
    shown = (await client.get(url)).json()["data"]
    assert "secret" not in shown and shown["url"] == "https://hooks.example.com/in"
    second = (await client.put(url, json={"url": "https://hooks.example.com/v2"})).json()["data"]
    assert second["secret"] != data["secret"] and second["events"] == ["completed", "failed", "cancelled"]
    assert second["createdAt"] == data["createdAt"]
    assert (await client.delete(url)).json() == {"success": True, "data": {"id": agent, "deleted": True}}
    missing = await client.get(url)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "webhook_not_found"
    assert (await client.delete(url)).status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"url": "ftp://example.com/x"}, "invalid_input", "http:// or https://"),
        ({"url": "http://127.0.0.1:9000/hook"}, "invalid_input", "internal addresses are refused"),
        ({"url": "http://169.254.169.254/latest"}, "invalid_input", "metadata"),
        ({"url": "https://u:p@example.com/x"}, "invalid_input", "credentials"),
        ({"url": "https://example.com/" + "a" * 2100}, "invalid_request", "url"),
        ({"url": "https://example.com/x", "events": []}, "invalid_request", "events"),
        ({"url": "https://example.com/x", "events": ["started"]}, "invalid_request", "events"),
        ({"events": ["failed"]}, "invalid_request", "url"),
    ],
)
async def test_bad_webhooks_are_refused_with_a_clear_400(client, body, code, words):
    agent = await create_agent(client)
    response = await client.put(f"/api/agents/{agent}/webhook", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error


async def test_unknown_agents_are_404(client):
    nobody = uuid.uuid4()
    for response in (
        await client.put(f"/api/agents/{nobody}/webhook", json={"url": "https://example.com/x"}),
        await client.get(f"/api/agents/{nobody}/webhook"),
        await client.get(f"/api/agents/{nobody}/webhook/deliveries"),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "agent_not_found"


async def test_a_finished_job_reaches_a_real_receiver_and_shows_in_the_deliveries(tmp_path):
    receiver = Receiver().start()
    receiver.script(500)
    try:
        app = app_for(tmp_path, WEBHOOK_ALLOW_PRIVATE_NETWORKS="1", WEBHOOK_RETRY_BASE_SECONDS="0.05")
        async with AsyncTestClient(app) as client:
            agent = await create_agent(client)
            hook = (await client.put(f"/api/agents/{agent}/webhook", json={"url": receiver.url})).json()["data"]
            source = (await client.post(f"/api/agents/{agent}/sources/text", json={"text": "hello"})).json()["data"]
            async with asyncio.timeout(15):
                while len(receiver.requests()) < 2:
                    await asyncio.sleep(0.05)
                while True:
                    page = (await client.get(f"/api/agents/{agent}/webhook/deliveries")).json()
                    if page["data"] and page["data"][0]["status"] == "delivered":
                        break
                    await asyncio.sleep(0.05)
    finally:
        receiver.stop()
    failed, accepted = receiver.requests()
    assert (failed.answered, accepted.answered) == (500, 200)
    assert verify(hook["secret"], accepted.body, accepted.header("X-Sluice-Signature") or "")
    [delivery] = page["data"]
    assert delivery["jobId"] == source["jobId"] and delivery["event"] == "job.completed"
    assert delivery["attempts"] == 2 and delivery["maxAttempts"] == 8 and delivery["lastStatusCode"] == 200
    assert delivery["id"] == accepted.header("X-Sluice-Delivery") == failed.header("X-Sluice-Delivery")
