"""Driving a running Sluice over HTTP: many clients creating text sources at once.

Also the bounded load test of issue 7 (``python -m bench load``): 1,000 text sources from
50 concurrent clients against an API process and 2 worker processes (distributed mode on
PostgreSQL and Redis), loopback only; it stops by itself after the last job (or a time
limit) and reports errors, completed jobs, p50/p99 of the create call and jobs/s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.common import Context, Row, Skipped, percentile

TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Outcome:
    sources: int
    seconds: float  # from the first create call to the last job completed
    create_latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)

    @property
    def jobs_per_second(self) -> float:
        return self.sources / self.seconds

    @property
    def completed(self) -> int:
        return self.jobs.get("completed", 0)


def tiny_text(i: int) -> str:
    return f"Note {i}: the queue only wakes workers; the jobs table is the truth."


async def create_agent(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post("/api/agents", json={"name": name})
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def job_counts(http: httpx.AsyncClient, agent_id: str) -> dict[str, int]:
    response = await http.get(f"/api/agents/{agent_id}")
    response.raise_for_status()
    return dict(response.json()["data"]["counts"]["jobs"])


async def drive(
    url: str,
    *,
    sources: int,
    clients: int,
    text: Callable[[int], str] = tiny_text,
    limit_seconds: float = 600.0,
    body: dict[str, object] | None = None,
) -> Outcome:
    """Creates ``sources`` text sources from ``clients`` concurrent clients; waits for their jobs."""
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        # A warm-up source, on an agent of its own: the workers are up before the clock starts.
        warm = await create_agent(http, "bench-warm-up")
        await _create(http, warm, text(-1), body, [], [])
        await _wait(http, warm, 1, time.monotonic() + 120)
        agent = await create_agent(http, "bench")
        latencies: list[float] = []
        errors: list[str] = []
        next_index = iter(range(sources))
        started = time.perf_counter()
        deadline = time.monotonic() + limit_seconds

        async def client() -> None:
            for i in next_index:
                if time.monotonic() > deadline:
                    errors.append("time limit reached before every source was created")
                    return
                await _create(http, agent, text(i), body, latencies, errors)

        await asyncio.gather(*(client() for _ in range(clients)))
        jobs = await _wait(http, agent, sources - len(errors), deadline)
        seconds = time.perf_counter() - started
        return Outcome(sources, seconds, latencies, errors, jobs)


async def _create(
    http: httpx.AsyncClient,
    agent: str,
    text: str,
    body: dict[str, object] | None,
    latencies: list[float],
    errors: list[str],
) -> None:
    t0 = time.perf_counter()
    try:
        response = await http.post(f"/api/agents/{agent}/sources/text", json={"text": text, **(body or {})})
    except httpx.HTTPError as exc:
        errors.append(f"{type(exc).__name__} after {time.perf_counter() - t0:.1f} s: {exc!r}")
        return
    latencies.append(time.perf_counter() - t0)
    if response.status_code != 201:
        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")


async def _wait(http: httpx.AsyncClient, agent: str, expected: int, deadline: float) -> dict[str, int]:
    while True:
        counts = await job_counts(http, agent)
        if sum(counts.get(s, 0) for s in TERMINAL) >= expected or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.05)


def load_test(ctx: Context) -> list[Row | Skipped]:
    from bench.procs import deployment

    if ctx.quick:
        return [Skipped("load", "--quick: skipped (scenario 4 drives the same path)")]
    sources, clients = 1000, 50
    scenario = f"load: {sources} sources, {clients} clients, API + 2 workers"
    with deployment(distributed=True, workers=2, concurrency=8) as d:
        outcome = asyncio.run(drive(d.url, sources=sources, clients=clients, limit_seconds=300))
    return outcome_rows(scenario, outcome)


def outcome_rows(scenario: str, outcome: Outcome) -> list[Row | Skipped]:
    lat = sorted(outcome.create_latencies)
    others = {k: v for k, v in outcome.jobs.items() if k != "completed" and v}
    return [
        Row(scenario, "errors", len(outcome.errors), "", target=0, target_text="0", lower_is_better=True,
            note="; ".join(sorted(set(outcome.errors))[:3])),
        Row(scenario, "jobs not completed", outcome.sources - outcome.completed, f"of {outcome.sources}", target=0,
            target_text="0", lower_is_better=True, note=f"other states: {others}" if others else "every job completed"),
        Row(scenario, "create call p50", percentile(lat, 50) * 1000 if lat else None, "ms"),
        Row(scenario, "create call p99", percentile(lat, 99) * 1000 if lat else None, "ms"),
        Row(scenario, "throughput (submit to completed)", outcome.jobs_per_second, "jobs/s"),
    ]  # fmt: skip
