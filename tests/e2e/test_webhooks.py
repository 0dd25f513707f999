"""Webhooks end to end: real processes, a real receiver on 127.0.0.1.

An API process (no worker) takes three sources and a cancel; then two separate worker
processes run the jobs and send the webhooks. The receiver answers the first two
deliveries with 500 and accepts the rest: it must get exactly one accepted, correctly
signed delivery per job outcome — completed, failed (its text file went missing) and
cancelled (announced by the API process's cancel, delivered by a worker) — and nothing
more, whichever worker sent what.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from cluster import Worker, wait_for
from server import Server

from domain.webhooks import verify
from receiver import Receiver

pytestmark = pytest.mark.slow


def test_each_outcome_is_delivered_once_signed_despite_failures_and_two_workers(tmp_path):
    receiver = Receiver().start()
    receiver.script(500, 500)
    data = tmp_path / "data"
    env = {
        **os.environ,
        "SLUICE_DATA_DIR": str(data),
        "LOG_LEVEL": "INFO",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",  # the receiver is on loopback
        "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "WEBHOOK_RETRY_MAX_SECONDS": "1",
    }
    api = Server(data, env=env, args=("--no-worker",)).start()
    workers: list[Worker] = []
    try:
        with api.client() as http:
            agent = http.post("/api/agents", json={"name": "hooked"}).json()["data"]["id"]
            hook = http.put(f"/api/agents/{agent}/webhook", json={"url": receiver.url}).json()["data"]
            sources = {
                name: http.post(
                    f"/api/agents/{agent}/sources/text", json={"text": f"{name} notes", "name": name}
                ).json()["data"]
                for name in ("done", "lost", "stopped")
            }
            assert http.delete(f"/api/jobs/{sources['stopped']['jobId']}").json()["data"]["status"] == "cancelled"
            lost = data / "blobs" / "agents" / agent / "sources" / sources["lost"]["id"] / "content.txt"
            lost.unlink()

            started = time.monotonic()
            for i in range(2):
                workers.append(Worker(env, tmp_path / f"worker-{i}.log", concurrency=2).start())

            def accepted():
                return [r for r in receiver.requests() if r.answered == 200]

            wait_for(lambda: len(accepted()) >= 3, 60, "three accepted deliveries")
            elapsed = time.monotonic() - started
            time.sleep(1.5)  # ample for a duplicate or a stray retry to show up

            requests = receiver.requests()
            assert [r.answered for r in requests].count(500) == 2 and len(requests) == 5, requests
            for r in requests:
                assert verify(hook["secret"], r.body, r.header("X-Sluice-Signature") or "")
                assert r.header("Content-Type") == "application/json"
            by_event = {}
            for r in accepted():
                document = json.loads(r.body)
                assert document["event"] not in by_event, "an outcome was accepted twice"
                by_event[document["event"]] = (document, r.header("X-Sluice-Delivery"))
            assert set(by_event) == {"job.completed", "job.failed", "job.cancelled"}
            expected = {"job.completed": "done", "job.failed": "lost", "job.cancelled": "stopped"}
            for event, name in expected.items():
                job = by_event[event][0]["job"]
                assert job["jobId"] == sources[name]["jobId"] and job["status"] == event.removeprefix("job.")
            assert "not found" in by_event["job.failed"][0]["job"]["errorMessage"]
            # The two refused deliveries were retried under their own ids.
            failed_ids = {r.header("X-Sluice-Delivery") for r in requests if r.answered == 500}
            assert failed_ids <= {delivery_id for _, delivery_id in by_event.values()}

            listed = http.get(f"/api/agents/{agent}/webhook/deliveries").json()["data"]
            assert sorted(d["status"] for d in listed) == ["delivered"] * 3
            assert sum(d["attempts"] for d in listed) == 5
            print(f"3 outcomes delivered through 2 refusals in {elapsed:.2f}s after the workers started")
    finally:
        for worker in workers:
            worker.stop()
        api.stop()
        receiver.stop()
