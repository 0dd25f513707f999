"""Scenario 7: peak memory (RSS) of the API and worker processes while ingesting.

Distributed mode (API process + one worker process, PostgreSQL and Redis), so each
process's peak is its own: ``psutil`` samples the RSS of both every 50 ms while a large
source is ingested: a 15 MB pasted text (the largest allowed is ``MAX_TEXT_MB``, 16 by
default) and a 49 MB text file uploaded (``MAX_UPLOAD_MB``, 50). The 1,000-page crawl
needs the crawler branch merged with the files branch; until then it says it is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import httpx

from bench.common import Context, Row, Skipped
from bench.corpus import corpus
from bench.load import create_agent, job_counts


class PeakRss:
    """Samples the RSS of some processes in a thread; ``peaks`` in MB."""

    def __init__(self, pids: dict[str, int]) -> None:
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peaks = dict.fromkeys(pids, 0.0)
        self.start_rss = {name: p.memory_info().rss / 2**20 for name, p in self.procs.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                with contextlib.suppress(Exception):
                    self.peaks[name] = max(self.peaks[name], proc.memory_info().rss / 2**20)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _ingest_one(url: str, text: str, *, upload: bool = False) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        agent = await create_agent(http, "bench-memory")
        if upload:
            files = {"file": ("corpus.txt", text.encode(), "text/plain")}
            response = await http.post(f"/api/agents/{agent}/sources/file", files=files)
        else:
            response = await http.post(f"/api/agents/{agent}/sources/text", json={"text": text})
        response.raise_for_status()
        while (counts := await job_counts(http, agent)).get("completed") != 1:
            if counts.get("failed"):
                raise RuntimeError(f"the memory scenario's job failed: {counts}")
            await asyncio.sleep(0.1)


def run(ctx: Context) -> list[Row | Skipped]:
    from bench.procs import deployment

    scenario = "7 memory (peak RSS)"
    if ctx.quick:
        return [Skipped(scenario, "--quick: skipped (two processes to start)")]
    megabytes = 0.2 if ctx.quick else 15.0
    text = corpus(12.0 if not ctx.quick else 0.3)
    while len(text.encode()) < megabytes * 1e6:
        text += "\n\n" + text
    text = text[: int(megabytes * 1e6)]
    rows: list[Row | Skipped] = []
    file_mb = 49.0  # MAX_UPLOAD_MB is 50 by default
    body = text
    while len(body.encode()) < file_mb * 1e6:
        body += "\n\n" + body
    body = body[: int(file_mb * 1e6)]
    has_upload = Path(__file__).resolve().parents[1].joinpath("src/entrypoints/api/uploads.py").exists()
    cases = [(f"{megabytes:g} MB pasted text", text, False)]
    if has_upload:
        cases.append((f"{file_mb:g} MB text file upload", body, True))
    for label, content, upload in cases:
        with deployment(distributed=True, workers=1, concurrency=3) as d:
            asyncio.run(_ingest_one(d.url, "warm-up: the worker is up before memory is sampled"))
            assert d.api is not None
            with PeakRss({"API": d.api.pid, "worker": d.workers[0].pid}) as rss:
                t0 = time.perf_counter()
                asyncio.run(_ingest_one(d.url, content, upload=upload))
                seconds = time.perf_counter() - t0
        for name in ("API", "worker"):
            rows.append(Row(scenario, f"{name} peak RSS, {label}", rss.peaks[name], "MB",
                            note=f"{rss.start_rss[name]:.0f} MB before; ingested in {seconds:.0f} s"))  # fmt: skip
    if not has_upload:
        rows.append(Skipped(scenario, "50 MB file: skipped, needs files branch"))
    rows.append(Skipped(scenario, "1,000-page crawl: skipped, needs the crawler branch merged with files"))
    return rows
