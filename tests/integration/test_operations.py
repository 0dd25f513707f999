"""Operations endpoints: /ready and /metrics."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings
from ports.vectors import VectorIndexUnavailable


@pytest.fixture
def container(tmp_path):
    return build_container(Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data")}))


async def test_metrics_count_the_walkthrough_job_under_its_type_and_status(container):
    async with AsyncTestClient(create_app(container)) as client:
        agent = (await client.post("/api/agents", json={"name": "m"})).json()["data"]
        source = (await client.post(f"/api/agents/{agent['id']}/sources/text", json={"text": "metrics"})).json()["data"]
        async with asyncio.timeout(20):
            while (await client.get(f"/api/jobs/{source['jobId']}")).json()["data"]["status"] != "completed":
                await asyncio.sleep(0.05)
        text = (await client.get("/metrics")).text
    assert 'sluice_jobs{status="completed",type="process_text"} 1.0' in text
    assert 'sluice_job_attempts_total{outcome="completed",type="process_text"} 1.0' in text
    assert f'sluice_vectors_stored{{agent_id="{agent["id"]}"}} 1.0' in text
    assert 'sluice_stage_seconds_count{stage="embed",type="process_text"} 1.0' in text
    assert 'method="POST",route="/api/agents/{agent_id}/sources/text",status="201"' in text
    assert "sluice_embedding_tokens_total" in text and "sluice_queue_depth" in text


async def test_ready_reports_each_dependency(container):
    async with AsyncTestClient(create_app(container)) as client:
        body = (await client.get("/ready")).json()
        assert body["success"] and body["data"]["ready"]
        assert {c["name"] for c in body["data"]["checks"]} == {"database", "queue", "vector_index"}

        async def down() -> None:
            raise VectorIndexUnavailable("index is down")

        container.vectors().ping = down
        response = await client.get("/ready")
    assert response.status_code == 503
    failing = [c for c in response.json()["data"]["checks"] if not c["ok"]]
    assert failing == [{"name": "vector_index", "ok": False, "detail": "index is down"}]
