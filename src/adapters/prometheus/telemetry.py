"""Prometheus metrics: what this process did (counters, histograms) and what the jobs
table holds (gauges read at scrape time, so every API process reports the same truth)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from domain.jobs import JobCensus

STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class PrometheusTelemetry:
    """The telemetry port, plus the job-table gauges and HTTP latency of the API."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "sluice_job_attempts", "Job attempts by outcome (completed, failed, cancelled, retrying)",
            ["type", "outcome"], registry=r,
        )  # fmt: skip
        self.stages = Histogram(
            "sluice_stage_seconds", "Time spent per pipeline stage of an attempt", ["type", "stage"],
            buckets=STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.embed_texts = Counter("sluice_embedding_texts", "Texts embedded", ["model"], registry=r)
        self.embed_tokens = Counter("sluice_embedding_tokens", "Tokens embedded", ["model"], registry=r)
        self.embed_requests = Counter("sluice_embedding_requests", "Embedding batches sent", ["model"], registry=r)
        self.vectors_out = Counter("sluice_vectors_written", "Vectors upserted", registry=r)
        self.pages = Counter("sluice_crawl_pages", "Crawled pages by outcome", ["outcome"], registry=r)
        self.http = Histogram(
            "sluice_http_request_seconds", "HTTP request latency", ["method", "route", "status"],
            buckets=HTTP_BUCKETS, registry=r,
        )  # fmt: skip
        self.jobs = Gauge("sluice_jobs", "Jobs in the table by type and status", ["type", "status"], registry=r)
        self.depth = Gauge("sluice_queue_depth", "Pending jobs per priority", ["priority"], registry=r)
        self.oldest = Gauge("sluice_oldest_pending_seconds", "Age of the oldest due pending job", registry=r)
        self.stored = Gauge(
            "sluice_vectors_stored", "Vectors stored per agent (largest agents)", ["agent_id"], registry=r
        )

    # -- the telemetry port ----------------------------------------------------------

    def stage_finished(self, job_type: str, stage: str, seconds: float) -> None:
        self.stages.labels(job_type, stage).observe(seconds)

    def job_finished(self, job_type: str, status: str) -> None:
        self.attempts.labels(job_type, status).inc()

    def embedded(self, model: str, texts: int, tokens: int) -> None:
        self.embed_texts.labels(model).inc(texts)
        self.embed_tokens.labels(model).inc(tokens)
        self.embed_requests.labels(model).inc()

    def vectors_written(self, count: int) -> None:
        self.vectors_out.inc(count)

    def pages_crawled(self, outcome: str, count: int = 1) -> None:
        self.pages.labels(outcome).inc(count)

    # -- the API side ----------------------------------------------------------------

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http.labels(method, route, str(status)).observe(seconds)

    def table(self, census: JobCensus, depth: Mapping[int, int], chunk_totals: Mapping[uuid.UUID, int]) -> None:
        """Set the gauges from a fresh read of the jobs table."""
        self.jobs.clear()
        for (job_type, status), count in census.by_type_and_status.items():
            self.jobs.labels(job_type, status).set(count)
        self.depth.clear()
        for priority, count in depth.items():
            self.depth.labels(str(priority)).set(count)
        oldest = census.oldest_pending_run_at
        now = datetime.now(UTC)
        self.oldest.set(max(0.0, (now - oldest).total_seconds()) if oldest and oldest <= now else 0.0)
        self.stored.clear()
        for agent_id, count in chunk_totals.items():
            self.stored.labels(str(agent_id)).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def monotonic() -> float:
    return time.perf_counter()
