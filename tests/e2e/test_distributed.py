"""Distributed mode with real processes: API + workers over PostgreSQL and Redis.

These are the acceptance checks of the distributed runtime: workers killed mid-run,
Redis restarted, priorities on Redis, cancels that reach another process, SSE fed by a
separate worker process.
"""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from cluster import Cluster, PrivateRedis, wait_for

pytestmark = pytest.mark.slow

PARAGRAPH = "Workers claim jobs from the table; the queue only wakes them. " * 6
TERMINAL = {"completed", "failed", "cancelled"}


def text_of(paragraphs: int, tag: str) -> str:
    return "\n\n".join(f"{tag} part {i}. {PARAGRAPH}" for i in range(paragraphs))


@pytest.fixture
def cluster(tmp_path, redis_url):
    c = Cluster(tmp_path, redis_url=redis_url)
    yield c
    c.close()


def add_sources(http, agent_id: str, count: int, paragraphs: int = 40, **extra) -> list[dict]:
    sources = []
    for i in range(count):
        body = {"text": text_of(paragraphs, f"doc{i}"), "chunkSize": 24, "chunkOverlap": 0, **extra}
        response = http.post(f"/api/agents/{agent_id}/sources/text", json=body)
        assert response.status_code == 201, response.text
        sources.append(response.json()["data"])
    return sources


def job(http, job_id: str) -> dict:
    return http.get(f"/api/jobs/{job_id}").json()["data"]


def all_jobs(http, agent_id: str) -> list[dict]:
    out, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = http.get(f"/api/agents/{agent_id}/jobs", params=params).json()
        out += body["data"]
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            return out


def vector_counts_match(http, agent_id: str, sources: list[dict]) -> None:
    """Every source's vectors == its chunk count, checked through a search per source."""
    total = 0
    for source in sources:
        current = http.get(f"/api/agents/{agent_id}/sources/{source['id']}").json()["data"]
        total += current["chunkCount"]
    counts = http.get(f"/api/agents/{agent_id}").json()["data"]["counts"]
    assert counts["vectors"] == total == counts["chunks"], (counts, total)


def test_workers_killed_three_times_mid_run_lose_nothing(cluster):
    cluster.start_api()
    http = cluster.http()
    agent = http.post("/api/agents", json={"name": "kill"}).json()["data"]
    first, second = cluster.add_worker(concurrency=2), cluster.add_worker(concurrency=2)
    sources = add_sources(http, agent["id"], 50)
    rng = random.Random(7)
    cancelled = {s["jobId"] for s in rng.sample(sources, 5)}

    victims = [first, second, first]
    for round_ in range(3):
        wait_for(lambda: any(j["status"] == "processing" for j in all_jobs(http, agent["id"])), 60, "a running job")
        if round_ == 0:
            for job_id in cancelled:
                http.delete(f"/api/jobs/{job_id}")
        victim = victims[round_]
        victim.kill()
        time.sleep(0.5)
        cluster.workers[cluster.workers.index(victim)] = victim.start()

    def finished():
        jobs = all_jobs(http, agent["id"])
        return len(jobs) == 50 and all(j["status"] in TERMINAL for j in jobs) and jobs

    jobs = wait_for(finished, 240, "all 50 jobs to finish", every=0.5)
    by_id = {j["id"]: j for j in jobs}
    for job_id in cancelled:
        assert by_id[job_id]["status"] in {"cancelled", "completed"}, by_id[job_id]
    done = [j for j in jobs if j["id"] not in cancelled]
    assert all(j["status"] == "completed" for j in done), [j for j in done if j["status"] != "completed"]
    assert any(j["attempts"] > 1 for j in done), "no job was interrupted: the kills hit nothing"
    vector_counts_match(http, agent["id"], sources)
    for source in sources:
        if source["jobId"] in cancelled and by_id[source["jobId"]]["status"] == "cancelled":
            current = http.get(f"/api/agents/{agent['id']}/sources/{source['id']}").json()["data"]
            assert current["chunkCount"] == 0, "a cancelled job's vectors must not stay"


def test_a_killed_workers_job_is_rerun_by_another_within_15s(tmp_path, redis_url):
    cluster = Cluster(tmp_path, redis_url=redis_url, env={"JOB_LEASE_SECONDS": "10", "EMBED_BATCH_SIZE": "4"})
    try:
        cluster.start_api()
        http = cluster.http()
        agent = http.post("/api/agents", json={"name": "lease"}).json()["data"]
        victim = cluster.add_worker(concurrency=1)
        # Long enough to outlive the second worker's start (progress is saved at most
        # twice a second now, so 9,000 chunks took only ~2.3 s and ended before the kill).
        (source,) = add_sources(http, agent["id"], 1, paragraphs=8000)
        wait_for(lambda: job(http, source["jobId"])["progress"].get("chunks_done", 0) > 0, 60, "the job to run")
        cluster.add_worker(concurrency=1)
        time.sleep(2)  # the second worker is up and idle
        killed_at = time.monotonic()
        victim.kill()
        rerun = wait_for(lambda: (j := job(http, source["jobId"]))["attempts"] == 2 and j, 30, "the re-run")
        recovery = time.monotonic() - killed_at
        assert recovery <= 15, f"re-run started {recovery:.1f}s after the kill"
        final = wait_for(lambda: (j := job(http, source["jobId"]))["status"] in TERMINAL and j, 120, "completion")
        assert final["status"] == "completed" and rerun["attempts"] == 2
        vector_counts_match(http, agent["id"], [source])
        print(f"recovered {recovery:.1f}s after SIGKILL")
    finally:
        cluster.close()


def test_redis_restarted_mid_run_loses_no_job(tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    cluster = Cluster(tmp_path, redis_url=redis.url)
    try:
        cluster.start_api()
        http = cluster.http()
        agent = http.post("/api/agents", json={"name": "redis"}).json()["data"]
        cluster.add_worker(concurrency=3)
        sources = add_sources(http, agent["id"], 25)
        wait_for(lambda: sum(j["status"] == "completed" for j in all_jobs(http, agent["id"])) >= 3, 60, "progress")
        redis.stop()
        # Sources added while Redis is down are committed; their dispatch fails.
        sources += add_sources(http, agent["id"], 25)
        time.sleep(2)
        redis.start()

        def finished():
            jobs = all_jobs(http, agent["id"])
            return len(jobs) == 50 and all(j["status"] == "completed" for j in jobs)

        wait_for(finished, 180, "all 50 jobs to complete after the Redis restart", every=0.5)
        vector_counts_match(http, agent["id"], sources)
    finally:
        cluster.close()
        redis.stop()


def test_priorities_hold_with_one_worker_of_concurrency_one(cluster):
    cluster.start_api()
    http = cluster.http()
    agent = http.post("/api/agents", json={"name": "prio"}).json()["data"]
    priorities = [(10, 5, 3)[i % 3] for i in range(30)]
    random.Random(3).shuffle(priorities)
    sources = []
    for i, priority in enumerate(priorities):
        sources += add_sources(http, agent["id"], 1, paragraphs=2, priority=priority)
        sources[-1]["priority"] = priority
        sources[-1]["order"] = i
    cluster.add_worker(concurrency=1)

    def finished():
        jobs = all_jobs(http, agent["id"])
        return all(j["status"] == "completed" for j in jobs) and jobs

    jobs = wait_for(finished, 120, "the backlog to drain", every=0.5)
    started = sorted(jobs, key=lambda j: j["startedAt"])
    expected = sorted(jobs, key=lambda j: (-j["priority"], j["createdAt"]))
    assert [j["id"] for j in started] == [j["id"] for j in expected]


def test_sse_follows_a_job_run_by_a_separate_worker(cluster):
    cluster.start_api()
    http = cluster.http()
    agent = http.post("/api/agents", json={"name": "sse"}).json()["data"]
    (source,) = add_sources(http, agent["id"], 1, paragraphs=300)
    events: list[dict] = []

    def listen():
        with http.stream("GET", f"/api/realtime/jobs/{source['jobId']}/events", timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))

    listener = threading.Thread(target=listen)
    listener.start()
    wait_for(lambda: events, 10, "the first event")
    cluster.add_worker(concurrency=1)
    listener.join(120)
    statuses = [e["status"] for e in events]
    assert statuses[0] == "pending" and statuses[-1] == "completed", statuses
    running = [e for e in events if e["status"] == "processing"]
    assert len(running) >= 3, statuses
    percents = [e["progress"].get("percent", 0) for e in running]
    assert percents == sorted(percents)


def test_cancel_stops_a_job_running_in_another_process_within_2s(cluster):
    cluster.start_api()
    http = cluster.http()
    agent = http.post("/api/agents", json={"name": "cancel"}).json()["data"]
    cluster.add_worker(concurrency=1)
    (source,) = add_sources(http, agent["id"], 1, paragraphs=3000)
    wait_for(lambda: job(http, source["jobId"])["progress"].get("chunks_done", 0) > 0, 60, "the job to run")
    cancelled = http.delete(f"/api/jobs/{source['jobId']}").json()["data"]
    assert cancelled["status"] == "cancelled"
    time.sleep(2.5)
    counts = http.get(f"/api/agents/{agent['id']}").json()["data"]["counts"]
    assert counts["vectors"] == 0, "the cancelled job's vectors are still there 2.5 s later"
    time.sleep(2)
    assert http.get(f"/api/agents/{agent['id']}").json()["data"]["counts"]["vectors"] == 0
    after = job(http, source["jobId"])
    assert after["status"] == "cancelled" and after["attempts"] == 1
