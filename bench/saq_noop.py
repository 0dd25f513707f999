"""The raw-SAQ baseline of scenario 4: no-op jobs through the same Redis.

``python -m bench.saq_noop <redis-url> <queue-name> <concurrency>`` runs a plain SAQ
worker whose one function does nothing; ``noop_jobs_per_second`` enqueues jobs from
this process, ``clients`` at a time, and waits until every one has completed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any


async def noop(ctx: object) -> None:
    return None


async def _worker(url: str, name: str, concurrency: int) -> None:
    from saq import Queue, Worker

    queue = Queue.from_url(url, name=name)
    worker = Worker(queue, functions=[noop], concurrency=concurrency)
    await worker.start()


async def _swept_once(queue: Any, timeout: float = 60.0) -> None:
    """Wait for the worker's first sweep, which it runs as it starts.

    SAQ's sweep aborts any job it finds in the active list still marked queued, and a
    worker moves a job there a moment before marking it active: a job enqueued while the
    worker starts can be aborted ("swept") although it runs. The sweep then holds a lock
    for its interval (60 s by default), so once its key exists no sweep comes during
    the measurement. Sluice's drive likewise waits for its workers before the clock.
    """
    deadline = time.monotonic() + timeout
    while not await queue.redis.exists(queue.namespace("sweep")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the SAQ worker of {queue.name} did not start in {timeout:g}s")
        await asyncio.sleep(0.05)


async def noop_jobs_per_second(url: str, name: str, jobs: int, clients: int) -> float:
    """Jobs per second from the first enqueue to the last completion."""
    from saq import Queue

    queue = Queue.from_url(url, name=name)
    await queue.connect()
    try:
        await _swept_once(queue)

        async def client(count: int) -> None:
            await queue.map("noop", [{}] * count, timeout=300) if count else None

        # The worker is up and warm, and the connection pool at its working size.
        await asyncio.gather(*(client(1) for _ in range(clients)))
        per_client = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
        started = time.perf_counter()

        await asyncio.gather(*(client(n) for n in per_client))
        return jobs / (time.perf_counter() - started)
    finally:
        await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1], sys.argv[2], int(sys.argv[3])))
