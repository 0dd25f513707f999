"""The telemetry port: what the use cases measure, in their own words.

Adapters turn these into Prometheus metrics (or record them for tests). Calls must be
cheap and must never raise into a job.
"""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def stage_finished(self, job_type: str, stage: str, seconds: float) -> None:
        """A pipeline stage of one attempt ended (extract, chunk, embed, store, total)."""
        ...

    def job_finished(self, job_type: str, status: str) -> None:
        """An attempt ended: completed, failed, cancelled or retrying."""
        ...

    def embedded(self, model: str, texts: int, tokens: int) -> None:
        """One embedding request's worth of texts was embedded."""
        ...

    def vectors_written(self, count: int) -> None: ...

    def pages_crawled(self, outcome: str, count: int = 1) -> None:
        """Crawled pages by outcome: kept, skipped, failed."""
        ...
