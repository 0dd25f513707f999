"""What the use cases need from the world (ports) and from configuration (values).

The use cases name the port Protocols for type checking only; at run time the domain
imports nothing outside itself, and any object with the right methods will do.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from domain.chunking import CharacterMeasure, Measure
from domain.errors import SluiceError
from domain.events import JobEvent
from domain.jobs import Job
from domain.retry import RetryPolicy
from domain.sources import ChunkingOptions, ChunkUnit
from domain.webhooks import WebhookOptions

if TYPE_CHECKING:
    from ports.blobs import BlobStore
    from ports.clock import Clock, RandomSource
    from ports.crawl import WebCrawler
    from ports.embed import Embedder
    from ports.extract import TextExtractor
    from ports.notify import Notifier
    from ports.queue import JobQueue
    from ports.store import Store
    from ports.telemetry import Telemetry
    from ports.vectors import VectorIndex
    from ports.webhooks import WebhookSender

log = logging.getLogger("sluice.services")

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes and counts a request may not exceed; each is a documented setting."""

    max_text_bytes: int = 16 * MB
    max_upload_bytes: int = 50 * MB
    max_query_chars: int = 8_000
    max_top_k: int = 100
    max_sources_per_agent: int = 100_000
    max_name_chars: int = 200
    max_page_size: int = 200
    max_crawl_pages: int = 1000


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)
    max_attempts: int = 3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 10.0
    worker_id: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:8]}")
    limits: Limits = field(default_factory=Limits)
    # Sections of at most this many characters are chunked at a time, so a 50 MB
    # document never sits in memory as one string plus all of its chunks.
    max_section_chars: int = 1_000_000
    embed_batch_size: int | None = None
    cleanup_days: float = 7.0
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    embed_timeout_seconds: float = 120.0
    vector_timeout_seconds: float = 60.0
    # A provider call that fails transiently is tried this many times within an attempt.
    step_tries: int = 4
    step_retry_seconds: float = 0.25
    # An Idempotency-Key of source creation is remembered this long.
    idempotency_ttl_seconds: float = 24 * 3600.0

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


class Silent:
    """Telemetry that records nothing (the default when none is wired)."""

    def stage_finished(self, job_type: str, stage: str, seconds: float) -> None:
        pass

    def job_finished(self, job_type: str, status: str) -> None:
        pass

    def embedded(self, model: str, texts: int, tokens: int) -> None:
        pass

    def vectors_written(self, count: int) -> None:
        pass

    def pages_crawled(self, outcome: str, count: int = 1) -> None:
        pass


@dataclass(slots=True)
class Ports:
    store: Store
    queue: JobQueue
    blobs: BlobStore
    embedder: Embedder
    vectors: VectorIndex
    notifier: Notifier
    clock: Clock
    random: RandomSource
    token_measure: Measure | None = None
    extractor: TextExtractor | None = None
    crawler: WebCrawler | None = None
    webhook_sender: WebhookSender | None = None
    telemetry: Telemetry = field(default_factory=Silent)

    def measure(self, unit: ChunkUnit) -> Measure:
        if unit is ChunkUnit.TOKENS:
            if self.token_measure is None:
                raise SluiceError("no token measure configured; chunk by characters instead")
            return self.token_measure
        return CharacterMeasure()

    async def publish(self, job: Job) -> None:
        """Tell subscribers; never lets a notifier problem fail the caller."""
        try:
            await self.notifier.publish(JobEvent.of(job))
        except Exception:
            log.warning("could not publish the event of job %s", job.id, exc_info=True)

    async def dispatch(self, job: Job) -> bool:
        """Hand a committed pending job to the queue. A failure is survivable: the
        reconciler re-dispatches pending jobs that no worker took."""
        try:
            await self.queue.dispatch(job.ticket())
            return True
        except Exception:
            log.warning("dispatch of job %s failed; the reconciler will retry it", job.id, exc_info=True)
            return False
