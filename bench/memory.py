"""Scenario 7: peak memory (RSS) of the API and worker processes while ingesting.

Distributed mode (API process + one worker process, PostgreSQL and Redis), so each
process's peak is its own: ``psutil`` samples the RSS of both every 50 ms while a large
source is ingested: a 15 MB pasted text (the largest allowed is ``MAX_TEXT_MB``, 16 by
default), a 49 MB text file uploaded (``MAX_UPLOAD_MB``, 50) and a 1,000-page crawl of
the local documentation tree (the corpus's HTML, served by a stdlib HTTP server on
127.0.0.1 for this scenario only, with the private-network switch set for that port).
"Flat" is judged from these peaks: the growth over the idle RSS must stay well below the
input's size (a 1,000-page crawl or a 49 MB file must not cost its size in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import corpus as corpus_module
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


class _Served:
    bytes = 0


@contextlib.contextmanager
def docs_site(root: Path) -> Iterator[tuple[int, type[_Served]]]:
    """Serves ``root`` on 127.0.0.1 (a free port) in a thread; yields the port and a byte count."""

    served = type("Served", (_Served,), {})

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def copyfile(self, source: Any, outputfile: Any) -> None:
            data = source.read()
            served.bytes += len(data)
            outputfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), served
    finally:
        server.shutdown()
        server.server_close()


async def _crawl(url: str, start: str, pages: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        agent = await create_agent(http, "bench-memory-crawl")
        body = {"url": start, "maxPages": pages, "maxDepth": 6}
        response = await http.post(f"/api/agents/{agent}/sources/website", json=body)
        response.raise_for_status()
        job_id = response.json()["data"]["jobId"]
        while True:
            job = (await http.get(f"/api/jobs/{job_id}")).json()["data"]
            if job["status"] in ("completed", "failed", "cancelled"):
                if job["status"] != "completed":
                    raise RuntimeError(f"the memory scenario's crawl ended {job['status']}: {job.get('errorMessage')}")
                return dict(job["result"])
            await asyncio.sleep(0.25)


def _rows(scenario: str, label: str, small: tuple[PeakRss, float], full: tuple[PeakRss, float], note: str
          ) -> list[Row | Skipped]:  # fmt: skip
    """Peak RSS at the full size, and how much the peak grew from a third of the input to
    all of it: flat memory grows by (nearly) nothing per extra MB of input."""
    (rss_small, mb_small), (rss_full, mb_full) = small, full
    rows: list[Row | Skipped] = []
    for name in ("API", "worker"):
        slope = max(0.0, rss_full.peaks[name] - rss_small.peaks[name]) / (mb_full - mb_small)
        rows.append(
            Row(
                scenario,
                f"{name} peak RSS, {label}",
                rss_full.peaks[name],
                "MB",
                note=f"idle {rss_small.start_rss[name]:.0f} MB; {note}",
            )
        )
        rows.append(
            Row(
                scenario,
                f"{name} extra peak per extra MB of input, {label}",
                slope,
                "MB/MB",
                target=0.25,
                target_text="<= 0.25 (flat)",
                lower_is_better=True,
                note=f"peak {rss_small.peaks[name]:.0f} MB at {mb_small:.1f} MB of input, "
                f"{rss_full.peaks[name]:.0f} MB at {mb_full:.1f} MB",
            )
        )
    return rows  # fmt: skip


def _sampled(d: Any, action: Any) -> tuple[PeakRss, float]:
    """Runs ``action()`` while sampling the RSS of the API and the worker; returns the
    sampler and the seconds it took."""
    assert d.api is not None
    with PeakRss({"API": d.api.pid, "worker": d.workers[0].pid}) as rss:
        t0 = time.perf_counter()
        action()
        seconds = time.perf_counter() - t0
    return rss, seconds


def crawl_rows(scenario: str, pages: int) -> list[Row | Skipped]:
    from bench.procs import deployment

    root = corpus_module.DOCS
    start = "std/index.html"
    if not (root / start).exists():
        return [Skipped(scenario, f"{pages:,}-page crawl: skipped, no documentation tree at {root}")]
    runs = []
    with docs_site(root) as (port, served):
        env = {"CRAWL_ALLOW_PRIVATE_NETWORKS": "1", "CRAWL_ALLOWED_PORTS": str(port)}
        with deployment(distributed=True, workers=1, concurrency=3, env=env) as d:
            asyncio.run(_ingest_one(d.url, "warm-up: the worker is up before memory is sampled"))
            for count in (pages // 3, pages):
                before = served.bytes
                result: dict[str, Any] = {}
                url = f"http://127.0.0.1:{port}/{start}"
                crawl = functools.partial(_crawl, d.url, url, count)
                rss, seconds = _sampled(d, lambda crawl=crawl, result=result: result.update(asyncio.run(crawl())))
                runs.append((rss, (served.bytes - before) / 1e6, int(result.get("pages_crawled", 0)), seconds))
    (small, mb_small, _, _), (full, mb_full, crawled, seconds) = runs
    note = f"{crawled / seconds:.1f} pages/s, {mb_full:.0f} MB of HTML served"
    return _rows(scenario, f"{crawled:,}-page crawl of the local docs", (small, mb_small), (full, mb_full), note)


def run(ctx: Context) -> list[Row | Skipped]:
    from bench.procs import deployment

    scenario = "7 memory (peak RSS)"
    if ctx.quick:
        return [Skipped(scenario, "--quick: skipped (two processes to start)")]
    megabytes, file_mb = 15.0, 49.0  # MAX_TEXT_MB is 16 and MAX_UPLOAD_MB 50 by default
    text = corpus(12.0)
    while len(text.encode()) < file_mb * 1e6:
        text += "\n\n" + text
    body = text[: int(file_mb * 1e6)]
    text = text[: int(megabytes * 1e6)]
    rows: list[Row | Skipped] = []
    cases = [(f"{megabytes:g} MB pasted text", text, False), (f"{file_mb:g} MB text file upload", body, True)]
    for label, content, upload in cases:
        runs = []
        with deployment(distributed=True, workers=1, concurrency=3) as d:
            asyncio.run(_ingest_one(d.url, "warm-up: the worker is up before memory is sampled"))
            for part in (content[: len(content) // 3], content):
                ingest = functools.partial(_ingest_one, d.url, part, upload=upload)
                rss, seconds = _sampled(d, lambda ingest=ingest: asyncio.run(ingest()))
                runs.append(((rss, len(part.encode()) / 1e6), seconds))
        (small, _), (full, seconds) = runs
        rows += _rows(scenario, label, small, full, f"ingested in {seconds:.0f} s")
    rows += crawl_rows(scenario, 1000)
    return rows
