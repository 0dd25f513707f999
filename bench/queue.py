"""Scenario 4: queue overhead, tiny text sources through the whole path vs raw SAQ.

Sluice: API call -> PostgreSQL -> Redis -> worker -> hashing embedder -> on-disk vectors
-> ``completed``, measured from the first create call to the last job completed, with one
and with two worker processes (``JOB_CONCURRENCY`` 10 each), and in embedded mode (one
``sluice serve``: SQLite and the in-process queue). Raw SAQ: no-op jobs enqueued from 50
clients into one SAQ worker process (concurrency 10) on the same Redis. Both sides are
warmed up first at full concurrency (50 sources, 50 jobs), unmeasured.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

from bench.common import Context, Row, Skipped
from bench.load import drive
from bench.procs import REDIS_URL, Unavailable, _drop_queue_keys, deployment, need_services
from bench.saq_noop import noop_jobs_per_second

CONCURRENCY = 10
CLIENTS = 50


def raw_saq(jobs: int) -> float:
    name = f"bench-noop-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen([sys.executable, "-m", "bench.saq_noop", REDIS_URL, name, str(CONCURRENCY)])
    try:
        return asyncio.run(noop_jobs_per_second(REDIS_URL, name, jobs, CLIENTS))
    finally:
        worker.terminate()
        worker.wait(30)
        asyncio.run(_drop_queue_keys(name))


def sluice(jobs: int, *, distributed: bool, workers: int) -> float:
    env = {"JOB_CONCURRENCY": str(CONCURRENCY)}
    with deployment(distributed=distributed, workers=workers, concurrency=CONCURRENCY, env=env) as d:
        # Warm-up at full concurrency, unmeasured: the processes' connection pools grow
        # to their working size (a PostgreSQL connection costs ~10-30 ms to open and
        # prepares each statement once), as the raw-SAQ client warms up its own.
        asyncio.run(drive(d.url, sources=min(CLIENTS, jobs), clients=CLIENTS, limit_seconds=120))
        outcome = asyncio.run(drive(d.url, sources=jobs, clients=CLIENTS, limit_seconds=300))
    if outcome.errors or outcome.completed != jobs:
        raise RuntimeError(f"{jobs} jobs: {outcome.completed} completed, errors {outcome.errors[:3]}, {outcome.jobs}")
    return outcome.jobs_per_second


def run(ctx: Context) -> list[Row | Skipped]:
    scenario = "4 queue overhead"
    jobs = 10 if ctx.quick else 200
    rows: list[Row | Skipped] = []
    embedded = sluice(jobs, distributed=False, workers=0)
    if ctx.quick:
        rows.append(Row(scenario, "sluice embedded (SQLite, in-process queue)", embedded, "jobs/s"))
        rows.append(Skipped(scenario, "--quick: distributed mode and raw SAQ skipped (processes to start)"))
        return rows
    try:
        need_services()
    except Unavailable as exc:
        rows.append(Row(scenario, "sluice embedded (SQLite, in-process queue)", embedded, "jobs/s"))
        rows.append(Skipped(scenario, f"distributed mode skipped: {exc}"))
        return rows
    saq = raw_saq(jobs * 2)
    one = sluice(jobs, distributed=True, workers=1)
    two = sluice(jobs, distributed=True, workers=2)
    note = f"{jobs} sources, {CLIENTS} clients, concurrency {CONCURRENCY}/process"
    rows += [
        Row(scenario, "raw SAQ no-op jobs (1 worker process)", saq, "jobs/s", 1.0, "SAQ", note=f"{jobs * 2} jobs"),
        Row(scenario, "sluice distributed, 1 worker", one, "jobs/s", one / saq, "SAQ", 0.3, ">= 0.3x SAQ", note=note),
        Row(scenario, "sluice distributed, 2 workers", two, "jobs/s", two / one, "1 worker", 1.6, ">= 1.6x 1 worker",
            note=note),
        Row(scenario, "sluice embedded (SQLite, in-process queue)", embedded, "jobs/s", embedded / saq, "SAQ",
            note=note),
    ]  # fmt: skip
    return rows
