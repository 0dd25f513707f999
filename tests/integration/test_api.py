"""The HTTP API on the embedded adapters (SQLite, in-process queue, on-disk index)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings

TEXT = """Sluice turns an agent's knowledge sources into searchable vectors.

Each source becomes a job that is queued by priority, extracted, chunked, embedded
and upserted into a vector index, with progress pushed in real time.

Lighthouses warn ships about rocks at night with a rotating beam of light."""


@pytest.fixture
async def client(tmp_path):
    settings = Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data"), "MAX_TEXT_MB": "1"})
    app = create_app(build_container(settings))
    async with AsyncTestClient(app) as client:
        yield client


async def wait_job(client, job_id: str, timeout: float = 20.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            body = (await client.get(f"/api/jobs/{job_id}")).json()
            if body["data"]["status"] in {"completed", "failed", "cancelled"}:
                return body["data"]
            await asyncio.sleep(0.05)


async def create_agent(client, name: str = "docs") -> dict:
    response = await client.post("/api/agents", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_walkthrough_text_to_search(client):
    assert (await client.get("/health")).json() == {"success": True, "data": {"status": "ok", "version": "0.1.0"}}
    agent = await create_agent(client)
    response = await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": TEXT, "name": "about"})
    assert response.status_code == 201, response.text
    source = response.json()["data"]
    assert source["status"] == "pending" and source["jobId"] and source["type"] == "text"

    job = await wait_job(client, source["jobId"])
    assert job["status"] == "completed", job
    assert job["progress"]["percent"] == 100 and job["attempts"] == 1 and job["maxAttempts"] == 3
    assert job["type"] == "process_text" and job["priority"] == 10 and job["dataSourceId"] == source["id"]

    hits = (await client.post(f"/api/agents/{agent['id']}/search", json={"query": "lighthouse rotating beam"})).json()
    assert hits["success"] and "Lighthouses" in hits["data"][0]["text"]
    assert hits["data"][0]["sourceId"] == source["id"] and hits["data"][0]["sourceName"] == "about"

    detail = (await client.get(f"/api/agents/{agent['id']}")).json()["data"]
    chunk_count = (await client.get(f"/api/agents/{agent['id']}/sources/{source['id']}")).json()["data"]["chunkCount"]
    assert detail["counts"]["vectors"] == chunk_count == detail["counts"]["chunks"] >= 1
    assert detail["counts"]["jobs"]["completed"] == 1 and detail["counts"]["sources"] == 1

    jobs = (await client.get(f"/api/agents/{agent['id']}/jobs")).json()
    assert [j["id"] for j in jobs["data"]] == [source["jobId"]] and jobs["pagination"]["hasMore"] is False
    source_jobs = (await client.get(f"/api/agents/{agent['id']}/sources/{source['id']}/jobs?status=completed")).json()
    assert len(source_jobs["data"]) == 1


async def test_error_envelope_and_status_codes(client):
    agent = await create_agent(client)
    missing = uuid.uuid4()
    response = await client.get(f"/api/jobs/{missing}")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "job_not_found", "message": f"job {missing} not found"},
    }
    assert (await client.get(f"/api/agents/{missing}")).json()["error"]["code"] == "agent_not_found"
    assert (await client.get("/api/jobs/not-a-uuid")).status_code in {400, 404}

    bad = await client.post(f"/api/agents/{agent['id']}/sources/text", json={"txt": "typo"})
    assert (
        bad.status_code == 400 and bad.json()["success"] is False and bad.json()["error"]["code"] == "invalid_request"
    )
    empty = await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "  "})
    assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"]
    big = await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "x" * ((1 << 20) + 1)})
    assert big.status_code == 413 and "MAX_TEXT_MB" in big.json()["error"]["message"]
    top = await client.post(f"/api/agents/{agent['id']}/search", json={"query": "q", "topK": 5000})
    assert top.status_code == 400 and "topK" in top.json()["error"]["message"]
    chunking = await client.post(
        f"/api/agents/{agent['id']}/sources/text", json={"text": "abc", "chunkSize": 100, "chunkOverlap": 100}
    )
    assert chunking.status_code == 400

    source = (await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "done soon"})).json()["data"]
    await wait_job(client, source["jobId"])
    conflict = await client.post(f"/api/jobs/{source['jobId']}/retry")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "illegal_transition"
    assert (await client.delete(f"/api/jobs/{source['jobId']}")).status_code == 409


async def test_cancel_retry_and_delete(client):
    agent = await create_agent(client)
    source = (
        await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": TEXT * 200, "chunkSize": 16})
    ).json()["data"]
    cancelled = (await client.delete(f"/api/jobs/{source['jobId']}")).json()["data"]
    assert cancelled["status"] == "cancelled"
    retried = (await client.post(f"/api/jobs/{source['jobId']}/retry")).json()["data"]
    assert retried["status"] == "pending" and retried["attempts"] == 0
    assert (await wait_job(client, source["jobId"]))["status"] == "completed"
    deleted = await client.delete(f"/api/agents/{agent['id']}/sources/{source['id']}")
    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert (await client.get(f"/api/agents/{agent['id']}/sources/{source['id']}")).status_code == 404
    assert (await client.get(f"/api/jobs/{source['jobId']}")).status_code == 404
    counts = (await client.get(f"/api/agents/{agent['id']}")).json()["data"]["counts"]
    assert counts["vectors"] == 0 and counts["sources"] == 0


async def test_openapi_schema_lists_every_route(client):
    schema = (await client.get("/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for path in [
        "/api/agents",
        "/api/agents/{agent_id}",
        "/api/agents/{agent_id}/sources/text",
        "/api/agents/{agent_id}/sources",
        "/api/agents/{agent_id}/sources/{source_id}",
        "/api/jobs/{job_id}",
        "/api/agents/{agent_id}/jobs",
        "/api/agents/{agent_id}/sources/{source_id}/jobs",
        "/api/jobs/{job_id}/retry",
        "/api/agents/{agent_id}/search",
        "/health",
    ]:
        assert path in paths, path
    # The text route reads its body itself (no str of the whole text): still documented.
    body = schema["paths"]["/api/agents/{agent_id}/sources/text"]["post"]["requestBody"]
    fields = set(body["content"]["application/json"]["schema"]["properties"])
    assert body["required"] and {"text", "chunkSize", "name", "metadata"} <= fields
