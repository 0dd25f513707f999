"""The raw-SAQ baseline of scenario 4: no-op jobs through the same Redis.

``python -m bench.saq_noop <redis-url> <queue-name> <concurrency>`` runs a plain SAQ
worker whose one function does nothing; ``noop_jobs_per_second`` enqueues jobs from
this process, ``clients`` at a time, and waits until every one has completed.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def noop(ctx: object) -> None:
    return None


async def _worker(url: str, name: str, concurrency: int) -> None:
    from saq import Queue, Worker

    queue = Queue.from_url(url, name=name)
    worker = Worker(queue, functions=[noop], concurrency=concurrency)
    await worker.start()


async def noop_jobs_per_second(url: str, name: str, jobs: int, clients: int) -> float:
    """Jobs per second from the first enqueue to the last completion."""
    from saq import Queue

    queue = Queue.from_url(url, name=name)
    await queue.connect()
    try:
        await queue.map("noop", [{}] * 5, timeout=60)  # the worker is up and warm
        per_client = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
        started = time.perf_counter()

        async def client(count: int) -> None:
            await queue.map("noop", [{}] * count, timeout=300) if count else None

        await asyncio.gather(*(client(n) for n in per_client))
        return jobs / (time.perf_counter() - started)
    finally:
        await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1], sys.argv[2], int(sys.argv[3])))
