"""Scenario 5: ingest throughput, from submission to searchable.

One 10 MB text source, and 100 sources of 100 KB, submitted over HTTP to an embedded
``sluice serve`` (SQLite, in-process queue, hashing embedder, on-disk vector index); the
clock stops when every job is completed and a search finds a chunk of the last source.
The baseline is tiktoken's ``encode_ordinary`` over the very same texts, in this run.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.common import Context, Row, best_of
from bench.corpus import corpus, documents
from bench.load import create_agent, job_counts


async def _ingest(url: str, texts: list[str], clients: int) -> float:
    """Seconds from the first create call until all are completed and searchable."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        agent = await create_agent(http, "bench-ingest")
        queue = iter(texts)
        started = time.perf_counter()

        async def client() -> None:
            for text in queue:
                response = await http.post(f"/api/agents/{agent}/sources/text", json={"text": text})
                response.raise_for_status()

        await asyncio.gather(*(client() for _ in range(clients)))
        while True:
            counts = await job_counts(http, agent)
            if counts.get("failed") or counts.get("cancelled"):
                raise RuntimeError(f"ingest jobs did not all complete: {counts}")
            if counts.get("completed") == len(texts):
                break
            await asyncio.sleep(0.05)
        probe = " ".join(texts[-1].split()[:12])
        response = await http.post(f"/api/agents/{agent}/search", json={"query": probe, "topK": 1})
        response.raise_for_status()
        if not response.json()["data"]:
            raise RuntimeError("the ingested text is not searchable")
        return time.perf_counter() - started


def run(ctx: Context) -> list[Row]:
    from adapters.tiktoken.measure import encoding
    from bench.procs import deployment

    text = corpus(0.3 if ctx.quick else 12.0)
    big_size, small_count, small_size = (100_000, 5, 10_000) if ctx.quick else (10_000_000, 100, 100_000)
    big = [text[:big_size]]
    small = documents(text, small_count, small_size, seed=5)
    encode = encoding().encode_ordinary
    scenario = "5 ingest to searchable"
    rows = []
    cases = ((f"1 x {big_size / 1e6:g} MB", big, 1), (f"{small_count} x {small_size / 1e3:g} KB", small, 8))
    with deployment(distributed=False) as d:
        asyncio.run(_ingest(d.url, ["warm-up: the worker is up before the clock starts"], 1))
        timed = [(label, texts, asyncio.run(_ingest(d.url, texts, clients))) for label, texts, clients in cases]
    for label, texts, seconds in timed:
        megabytes = sum(len(t.encode()) for t in texts) / 1e6
        ceiling = megabytes / best_of(lambda texts=texts: [encode(t) for t in texts], repeat=2)
        rows.append(Row(scenario, f"sluice embedded, {label}", megabytes / seconds, "MB/s",
                        megabytes / seconds / ceiling, "tiktoken", 0.4, ">= 0.4x tiktoken",
                        note=f"tiktoken {ceiling:.2f} MB/s on the same text"))  # fmt: skip
    return rows
