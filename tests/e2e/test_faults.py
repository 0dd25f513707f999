"""Fault survival on the real PostgreSQL and Redis: a database restart, an embedder that
hangs, a vector index that fails every third call. Jobs are retried and end right."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import httpx
import pytest
from cluster import Cluster, Database, PrivatePostgres, wait_for
from dependency_injector import providers

from adapters.hashing.embedder import HashingEmbedder
from domain.jobs import JobStatus
from entrypoints.library import Sluice
from ports.embed import Embeddings
from ports.vectors import VectorIndexUnavailable

pytestmark = pytest.mark.slow

TEXT = "\n\n".join(f"Section {i}: retries with backoff keep jobs alive through faults." for i in range(60))


@pytest.fixture
def database(postgres_url):  # postgres_url: skips (or fails in CI) without PostgreSQL
    db = Database()
    yield db
    db.close()


def library(tmp_path, database: Database, redis_url: str, **env: str) -> Sluice:
    return Sluice.from_env(
        DATABASE_URL=database.url,
        REDIS_URL=redis_url,
        SLUICE_QUEUE_NAME=f"sluice-faults-{uuid.uuid4().hex[:8]}",
        SLUICE_DATA_DIR=str(tmp_path / "data"),
        SLUICE_EMBEDDER="hashing",
        JOB_RETRY_BASE_SECONDS="0.2",
        JOB_RETRY_MAX_SECONDS="1",
        JOB_LEASE_SECONDS="4",
        JOB_ORPHAN_SECONDS="3",
        **env,
    )


class HangingEmbedder:
    """Never answers for texts that carry the marker; normal otherwise."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.model, self.dimensions, self.batch_size = self.inner.model, self.inner.dimensions, 16
        self.hung = 0

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        if any("HANG" in t for t in texts):
            self.hung += 1
            await asyncio.sleep(3600)
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str):
        return await self.inner.embed_query(text)

    async def close(self) -> None:
        pass


class EveryThirdCallFails:
    """Wraps a vector index; every third call raises the port's transient error."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0
        self.failures = 0

    def __getattr__(self, name: str):
        target = getattr(self.inner, name)
        if name in {"close", "ping", "count"}:
            return target

        async def call(*args, **kwargs):
            self.calls += 1
            if self.calls % 3 == 0:
                self.failures += 1
                raise VectorIndexUnavailable("injected fault: the vector index is unavailable")
            return await target(*args, **kwargs)

        return call


async def run_jobs(sluice: Sluice, texts: list[str], timeout: float = 120) -> list:
    agent = await sluice.agents.create_agent("faults")
    jobs = [(await sluice.sources.create_text_source(agent.id, t, name=f"s{i}"))[1] for i, t in enumerate(texts)]
    done = [await sluice.wait(job.id, timeout=timeout) for job in jobs]
    return agent, done


async def test_an_embedder_that_hangs_fails_its_job_and_nothing_else(tmp_path, database, redis_url):
    sluice = library(tmp_path, database, redis_url, EMBED_TIMEOUT_SECONDS="0.5")
    hanging = HangingEmbedder()
    sluice.container.embedder.override(providers.Object(hanging))
    async with sluice:
        _, jobs = await run_jobs(sluice, [TEXT, "HANG " + TEXT, TEXT, TEXT])
    statuses = [j.status for j in jobs]
    assert statuses == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.COMPLETED]
    failed = jobs[1]
    assert failed.attempts == 3 and hanging.hung == 3
    assert failed.error_message == "embedding timed out after 0.5 s (gave up after 3 attempts)"


async def test_a_vector_index_failing_every_third_call_ends_right(tmp_path, database, redis_url):
    sluice = library(tmp_path, database, redis_url, EMBED_BATCH_SIZE="8")
    flaky = EveryThirdCallFails(sluice.container.vectors())
    sluice.container.vectors.override(providers.Object(flaky))
    async with sluice:
        agent, jobs = await run_jobs(sluice, [f"doc {i}. " + TEXT for i in range(8)])
        assert all(j.status is JobStatus.COMPLETED for j in jobs), [(j.status, j.error_message) for j in jobs]
        # Each failed call was retried in place: no job lost an attempt to a one-off fault.
        assert flaky.failures >= 5 and all(j.attempts == 1 for j in jobs)
        stats = await sluice.agents.stats(agent)
        assert stats.vectors == stats.chunks == sum(j.result["chunks"] for j in jobs)


def test_postgres_restarted_mid_run(tmp_path, redis_url):
    pg = PrivatePostgres().start()
    cluster = Cluster(tmp_path, redis_url=redis_url, postgres=pg.url)
    try:
        cluster.start_api()
        http = cluster.http()
        agent = http.post("/api/agents", json={"name": "pg"}).json()["data"]
        cluster.add_worker(concurrency=2)
        sources = []
        for i in range(30):
            body = {"text": f"doc {i}\n\n" + TEXT * 3, "chunkSize": 24, "chunkOverlap": 0}
            sources.append(http.post(f"/api/agents/{agent['id']}/sources/text", json=body).json()["data"])
        first = sources[0]["jobId"]
        wait_for(lambda: http.get(f"/api/jobs/{first}").json()["data"]["status"] != "pending", 60, "work to start")

        pg.stop()
        down = http.get(f"/api/jobs/{first}")
        assert down.status_code == 503, down.text
        assert down.json()["success"] is False and down.json()["error"]["code"] == "store_unavailable"
        assert down.headers.get("retry-after")
        time.sleep(3)
        pg.start()

        def recovered():
            try:
                return http.get(f"/api/jobs/{first}").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(recovered, 30, "the API to answer again without a restart")

        def finished():
            jobs = [http.get(f"/api/jobs/{s['jobId']}").json()["data"] for s in sources]
            return all(j["status"] in {"completed", "failed"} for j in jobs) and jobs

        jobs = wait_for(finished, 180, "every job to finish", every=0.5)
        assert all(j["status"] == "completed" for j in jobs), [j for j in jobs if j["status"] != "completed"]
        counts = http.get(f"/api/agents/{agent['id']}").json()["data"]["counts"]
        assert counts["vectors"] == counts["chunks"] and counts["sources"] == 30
    finally:
        cluster.close()
        pg.close()
