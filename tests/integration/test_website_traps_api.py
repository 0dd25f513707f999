"""The trap site through the API: the job's progress counts pages while it runs, its
result names every trap with its reason, and the kept pages are searchable by content
with their url and title."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings
from standins.website import TrapHandler, gzip_bomb, serve


@pytest.fixture
def site():
    gzip_bomb()  # built before the clock starts: the crawl's page timeout is short
    with serve(TrapHandler) as other, serve(type("Traps", (TrapHandler,), {"other_port": other.port})) as site:
        yield site


async def test_the_job_result_lists_each_trap_and_pages_are_searchable(tmp_path, site) -> None:
    settings = Settings.from_env(
        {
            "SLUICE_DATA_DIR": str(tmp_path / "data"),
            "CRAWL_ALLOW_PRIVATE_NETWORKS": "1",
            "CRAWL_ALLOWED_PORTS": str(site.port),
            "CRAWL_PAGE_TIMEOUT_SECONDS": "1.5",
            "CRAWL_MAX_PAGE_MB": "2",
            "CHUNK_UNIT": "characters",
            "CHUNK_SIZE": "400",
            "CHUNK_OVERLAP": "0",
        }
    )
    async with AsyncTestClient(create_app(build_container(settings))) as client:
        agent = (await client.post("/api/agents", json={"name": "traps"})).json()["data"]
        response = await client.post(
            f"/api/agents/{agent['id']}/sources/website",
            json={"url": f"{site.url}/", "name": "trap site", "maxPages": 10, "maxDepth": 10},
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["data"]["jobId"]
        running: list[dict] = []
        async with asyncio.timeout(60):
            while True:
                job = (await client.get(f"/api/jobs/{job_id}")).json()["data"]
                if job["status"] == "processing":
                    running.append(job["progress"])
                if job["status"] in {"completed", "failed"}:
                    break
                await asyncio.sleep(0.05)
        assert job["status"] == "completed", job["errorMessage"]
        assert any(p.get("pages_crawled", 0) > 0 for p in running), "no page counts while running"
        result = job["result"]
        assert result["pages_crawled"] == 10
        reasons = {e["url"].rsplit("/", 1)[-1]: e["reason"] for e in result["skipped"] + result["failed"]}
        assert reasons["bomb"] == "too_large" and reasons["trickle"] == "timeout"
        assert reasons["file.bin"] == "not_html" and reasons["secret"] == "robots"
        assert reasons["redirect-metadata"] == reasons["redirect-other-port"] == "blocked_address"
        assert reasons["page"] == "out_of_scope"  # http://offsite.example/page
        assert not [p for p in site.log.paths if p.startswith("/private/")]

        hits = (
            await client.post(f"/api/agents/{agent['id']}/search", json={"query": "rotating beam warns ships"})
        ).json()["data"]
        assert hits[0]["metadata"]["url"] == f"{site.url}/about"
        assert hits[0]["metadata"]["title"] == "About" and hits[0]["sourceName"] == "trap site"


async def test_cancelling_a_crawl_stops_its_requests(tmp_path) -> None:
    slow = type("SlowTraps", (TrapHandler,), {"crawl_delay": 0.3})
    with serve(slow) as site:
        settings = Settings.from_env(
            {
                "SLUICE_DATA_DIR": str(tmp_path / "data"),
                "CRAWL_ALLOW_PRIVATE_NETWORKS": "1",
                "CRAWL_ALLOWED_PORTS": str(site.port),
                "CHUNK_UNIT": "characters",
            }
        )
        async with AsyncTestClient(create_app(build_container(settings))) as client:
            agent = (await client.post("/api/agents", json={"name": "cancel"})).json()["data"]
            response = await client.post(
                f"/api/agents/{agent['id']}/sources/website",
                json={"url": f"{site.url}/", "maxPages": 200, "maxDepth": 50},
            )
            job_id = response.json()["data"]["jobId"]
            async with asyncio.timeout(30):
                while (await client.get(f"/api/jobs/{job_id}")).json()["data"]["progress"].get("pages_crawled", 0) < 2:
                    await asyncio.sleep(0.05)
            assert (await client.delete(f"/api/jobs/{job_id}")).status_code == 200
            async with asyncio.timeout(10):
                while (await client.get(f"/api/jobs/{job_id}")).json()["data"]["status"] != "cancelled":
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # the crawl notices at its next page (0.3 s apart here)
            requests = len(site.log.paths)
            await asyncio.sleep(1.5)
            assert len(site.log.paths) == requests, "the crawl went on after its job was cancelled"
            assert requests < 20
