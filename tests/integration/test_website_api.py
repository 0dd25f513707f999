"""Website sources through the HTTP API: a real documentation tree served on 127.0.0.1.

The Rust documentation shipped with the toolchain (skipped when absent). The private
network switch and the site's port are set for these tests only. SLUICE_DOCS_CRAWL_PAGES
raises the page count (the acceptance run uses 400) and prints pages per second.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings
from standins.website import folder_handler, serve

DOCS = Path("/root/.rustup/toolchains/nightly-x86_64-unknown-linux-gnu/share/doc/rust/html")
PAGES = int(os.environ.get("SLUICE_DOCS_CRAWL_PAGES", "30"))

pytestmark = pytest.mark.skipif(not (DOCS / "index.html").exists(), reason="no Rust documentation on this machine")


@pytest.fixture
def docs_site():
    with serve(folder_handler(DOCS)) as site:
        yield site


def app_for(tmp_path: Path, port: int, **env: str):
    settings = Settings.from_env(
        {
            "SLUICE_DATA_DIR": str(tmp_path / "data"),
            "CRAWL_ALLOW_PRIVATE_NETWORKS": "1",
            "CRAWL_ALLOWED_PORTS": str(port),
            "CHUNK_UNIT": "characters",
            "CHUNK_SIZE": "1500",
            "CHUNK_OVERLAP": "100",
            **env,
        }
    )
    return create_app(build_container(settings))


async def wait_job(client, job_id: str, timeout: float = 240.0) -> tuple[dict, list[dict]]:
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            job = (await client.get(f"/api/jobs/{job_id}")).json()["data"]
            seen.append(job["progress"])
            if job["status"] in {"completed", "failed", "cancelled"}:
                return job, seen
            await asyncio.sleep(0.1)


async def test_a_documentation_site_is_crawled_and_searchable(tmp_path, docs_site) -> None:
    app = app_for(tmp_path, docs_site.port)
    async with AsyncTestClient(app) as client:
        agent = (await client.post("/api/agents", json={"name": "rust docs"})).json()["data"]
        started = time.monotonic()
        response = await client.post(
            f"/api/agents/{agent['id']}/sources/website",
            json={"url": f"{docs_site.url}/std/index.html", "maxPages": PAGES, "maxDepth": 4},
        )
        assert response.status_code == 201, response.text
        source = response.json()["data"]
        assert source["type"] == "website" and source["url"] == f"{docs_site.url}/std/index.html"
        assert source["options"]["crawl"]["max_pages"] == PAGES

        job, progress = await wait_job(client, source["jobId"])
        elapsed = time.monotonic() - started
        assert job["status"] == "completed", job
        assert job["type"] == "crawl_website" and job["priority"] == 3
        result = job["result"]
        assert result["pages_crawled"] == PAGES and result["pages_discovered"] >= PAGES
        assert result["pages_failed"] == 0, result["failed"][:5]
        assert result["reasons"].get("out_of_scope", 0) > 0  # docs link to GitHub, crates.io...
        assert any("pages_crawled" in p for p in progress)
        print(f"\ncrawled {PAGES} pages in {elapsed:.1f} s: {PAGES / elapsed:.1f} pages/s end to end")

        hits = (
            await client.post(
                f"/api/agents/{agent['id']}/search",
                json={"query": "growable vector with heap-allocated contents Vec", "topK": 5},
            )
        ).json()["data"]
        assert hits, "nothing searchable"
        meta = hits[0]["metadata"]
        assert meta["url"].startswith(docs_site.url) and meta["title"]
        assert meta["source_type"] == "website" and hits[0]["sourceId"] == source["id"]
        assert any("vec" in h["metadata"]["url"].lower() for h in hits)


async def test_a_blocked_start_url_is_a_400_and_bad_options_are_refused(tmp_path, docs_site) -> None:
    app = app_for(tmp_path, docs_site.port, CRAWL_ALLOW_PRIVATE_NETWORKS="0", CRAWL_MAX_PAGES_LIMIT="100")
    async with AsyncTestClient(app) as client:
        agent = (await client.post("/api/agents", json={"name": "strict"})).json()["data"]
        path = f"/api/agents/{agent['id']}/sources/website"
        for url in (f"{docs_site.url}/", "http://169.254.169.254/latest/meta-data/", "http://2130706433/"):
            response = await client.post(path, json={"url": url})
            assert response.status_code == 400, (url, response.text)
            assert response.json()["error"]["code"] == "crawl_blocked"
        response = await client.post(path, json={"url": "https://docs.example/", "maxPages": 101})
        assert response.status_code == 400 and "CRAWL_MAX_PAGES_LIMIT" in response.json()["error"]["message"]
        response = await client.post(path, json={"url": "ftp://example.com/"})
        assert response.status_code == 400
        assert (await client.get(f"/api/agents/{agent['id']}/sources")).json()["data"] == []
    assert docs_site.log.paths == []
