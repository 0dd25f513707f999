"""SIGKILL the embedded server mid-job; after a restart the job completes exactly once."""

from __future__ import annotations

import time

import pytest
from server import Server

pytestmark = pytest.mark.slow

PARAGRAPH = (
    "Ingestion turns documents into chunks, embeds every chunk and upserts the vectors. "
    "A crash in the middle must neither lose the job nor leave duplicate vectors behind. "
)


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_job_then_restart_completes_without_duplicates(tmp_path):
    data = tmp_path / "data"
    env = {"JOB_LEASE_SECONDS": "3", "EMBED_BATCH_SIZE": "16"}
    text = "\n\n".join(f"{i}. {PARAGRAPH * 3}" for i in range(3000))
    server = Server(data, env=env).start()
    try:
        with server.client() as http:
            agent = http.post("/api/agents", json={"name": "crash"}).json()["data"]
            source = http.post(
                f"/api/agents/{agent['id']}/sources/text", json={"text": text, "chunkSize": 32, "chunkOverlap": 0}
            ).json()["data"]
            job_url = f"/api/jobs/{source['jobId']}"

            def midway():
                job = http.get(job_url).json()["data"]
                return job if job["status"] == "processing" and job["progress"].get("chunks_done", 0) > 0 else None

            before = wait(midway, 60, "the job to be mid-way")
            assert before["progress"]["percent"] < 90, "the job finished too fast to be interrupted"
    finally:
        server.kill()

    restarted = Server(data, env=env).start()
    try:
        with restarted.client() as http:
            job = wait(
                lambda: (j := http.get(job_url).json()["data"])["status"] in {"completed", "failed"} and j,
                120,
                "the job to finish after the restart",
            )
            assert job["status"] == "completed", job
            assert job["attempts"] == 2, job
            chunk_count = http.get(f"/api/agents/{agent['id']}/sources/{source['id']}").json()["data"]["chunkCount"]
            counts = http.get(f"/api/agents/{agent['id']}").json()["data"]["counts"]
            assert chunk_count == job["result"]["chunks"] > 100
            assert counts["vectors"] == chunk_count
    finally:
        restarted.stop()
