"""File sources through the use cases: upload checks, page progress, page metadata."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from test_use_cases import World

from domain.documents import ExtractionRequest, Section
from domain.errors import LimitExceeded
from domain.events import JobEvent
from domain.files import UnsupportedFile
from domain.jobs import JobStatus
from domain.services.deps import Limits
from domain.services.runner import JobRunner
from domain.services.sources import SourceService


class PagedExtractor:
    """Three pages, one section each, reporting progress after each one."""

    def __init__(self) -> None:
        self.probe = None  # called after each progress report

    def supports(self, media_type: str) -> bool:
        return media_type == "application/pdf"

    async def extract(self, request: ExtractionRequest, *, on_progress=None) -> AsyncIterator[Section]:
        assert request.path.read_bytes().startswith(b"%PDF-")
        for page in (1, 2, 3):
            yield Section(text=f"Page {page} talks about topic{page} at length.", page_starts=((0, page),))
            if on_progress is not None:
                await on_progress({"pages_done": page, "pages_total": 3})
            if self.probe is not None:
                await self.probe()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
def world() -> World:
    w = World()
    w.ports.extractor = PagedExtractor()
    return w


async def test_a_file_job_reports_pages_and_keeps_them_in_chunk_metadata(world: World):
    agent = await world.agents.create_agent("docs")
    stored = await world.sources.store_file(agent.id, "C:\\scans\\report.pdf", chunks(b"%PDF-1.7\n", b"rest"))
    assert stored.filename == "report.pdf" and stored.size == 13
    source, job = await world.sources.create_file_source(stored)
    stored_progress: list[int] = []

    async def probe() -> None:
        stored_progress.append((await world.jobs.get_job(job.id)).progress["pages_done"])

    world.ports.extractor.probe = probe  # type: ignore[union-attr]
    world.runner = JobRunner(world.ports, world.config, heartbeat_seconds=3600, progress_seconds=0)
    assert job.priority == 5 and source.name == "report.pdf" and source.content_type == "application/pdf"
    assert await world.drain() == 1
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED
    assert (job.progress["pages_done"], job.progress["pages_total"], job.progress["stage"]) == (3, 3, "done")
    assert stored_progress == [1, 2, 3]  # each report is saved, and later ones win
    hits = await world.search.search(agent.id, "topic2")
    assert hits[0].metadata["page"] == 2


async def test_reports_in_quick_succession_are_published_at_once_and_saved_later(world: World):
    agent = await world.agents.create_agent("docs")
    stored = await world.sources.store_file(agent.id, "report.pdf", chunks(b"%PDF-1.7\n", b"rest"))
    _, job = await world.sources.create_file_source(stored)
    published: list[dict] = []
    publish = world.notifier.publish

    async def record(event: JobEvent) -> None:
        published.append(dict(event.progress))
        await publish(event)

    async def probe() -> None:
        if published[-1]["pages_done"] != 1:
            return
        assert "pages_done" not in (await world.jobs.get_job(job.id)).progress  # not saved yet...
        for _ in range(100):  # ...until the heartbeat's next look saves what was left unsaved
            await asyncio.sleep(0.05)
            if (await world.jobs.get_job(job.id)).progress.get("pages_done") == 1:
                break
        assert (await world.jobs.get_job(job.id)).progress["pages_done"] == 1

    world.notifier.publish = record  # type: ignore[method-assign]
    world.ports.extractor.probe = probe  # type: ignore[union-attr]
    world.runner = JobRunner(world.ports, world.config, heartbeat_seconds=3600, watch_seconds=0.2,
                             progress_seconds=3600)  # fmt: skip
    assert await world.drain() == 1
    job = await world.jobs.get_job(job.id)
    assert job.status is JobStatus.COMPLETED
    assert [p.get("pages_done") for p in published if p.get("stage") == "extracting"] == [None, 1, 2, 3]
    assert (job.progress["pages_done"], job.progress["pages_total"], job.progress["stage"]) == (3, 3, "done")


async def test_an_upload_whose_bytes_contradict_its_name_stores_nothing(world: World):
    agent = await world.agents.create_agent("docs")
    with pytest.raises(UnsupportedFile, match="executable"):
        await world.sources.store_file(agent.id, "invoice.pdf", chunks(b"\x7fELF\x02\x01", bytes(100)))
    assert world.ports.blobs._blobs == {}  # type: ignore[attr-defined]


async def test_an_upload_over_the_limit_stores_nothing():
    world = World()
    sources = SourceService(world.ports, dataclasses.replace(world.config, limits=Limits(max_upload_bytes=1000)))
    agent = await world.agents.create_agent("docs")
    with pytest.raises(LimitExceeded, match="MAX_UPLOAD_MB"):
        await sources.store_file(agent.id, "a.txt", chunks(b"x" * 600, b"y" * 600))
    assert world.ports.blobs._blobs == {}  # type: ignore[attr-defined]
