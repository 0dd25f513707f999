"""Turning a stored source into sections of text, whatever its type."""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from domain.crawling import CrawlOptions, CrawlReport
from domain.documents import ExtractionRequest, Section
from domain.errors import PermanentError
from domain.services.deps import Ports, ServiceConfig
from domain.sources import Source, SourceType
from domain.text import SectionSplitter

ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]

# (section, fraction of the input done before it, fraction done after it)
Sections = AsyncGenerator[tuple[Section, float, float], None]


def read_sections(
    ports: Ports,
    source: Source,
    config: ServiceConfig,
    *,
    on_progress: ProgressFn,
    result: dict[str, Any] | None = None,
) -> Sections:
    """The sections of a source, streamed. ``result`` receives what the job's result
    should say beyond the counts of chunks (a crawl's pages, skipped and failed URLs)."""
    if source.type is SourceType.TEXT:
        return _text_sections(ports, source, config)
    if source.type is SourceType.FILE:
        return _file_sections(ports, source, on_progress)
    if source.type is SourceType.WEBSITE:
        return _website_sections(ports, source, config, on_progress, {} if result is None else result)
    raise PermanentError(f"{source.type} sources cannot be processed by this server (no reader configured)")


async def _text_sections(ports: Ports, source: Source, config: ServiceConfig) -> Sections:
    """Stream the stored UTF-8 text; never holds more than a section or two at once."""
    if not source.blob_key:
        raise PermanentError("the text of this source was not stored")
    total = max(1, source.size_bytes or 1)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    splitter = SectionSplitter(config.max_section_chars)
    consumed = 0
    done = 0.0
    async for chunk in ports.blobs.open(source.blob_key):
        consumed += len(chunk)
        for text in splitter.feed(decoder.decode(chunk)):
            upto = min(1.0, consumed / total)
            yield Section(text=text), done, upto
            done = upto
    for text in splitter.feed(decoder.decode(b"", final=True)) + splitter.finish():
        yield Section(text=text), done, 1.0
        done = 1.0


async def _file_sections(ports: Ports, source: Source, on_progress: ProgressFn) -> Sections:
    extractor = ports.extractor
    if extractor is None:
        raise PermanentError("file sources cannot be processed by this server (no extractor configured)")
    if not source.blob_key or not source.content_type:
        raise PermanentError("the file of this source was not stored")
    done = 0.0

    async def progress(extra: dict[str, Any]) -> None:
        # Pages read so far tell how far through the file the sections are.
        nonlocal done
        total = extra.get("pages_total")
        if isinstance(total, int) and total > 0:
            done = min(1.0, int(extra.get("pages_done", 0)) / total)
        await on_progress(extra)

    async with ports.blobs.local_copy(source.blob_key) as path:
        request = ExtractionRequest(path=path, media_type=source.content_type, filename=source.name)
        before = 0.0
        async for section in extractor.extract(request, on_progress=progress):
            yield section, before, done
            before = done


async def _website_sections(
    ports: Ports, source: Source, config: ServiceConfig, on_progress: ProgressFn, result: dict[str, Any]
) -> Sections:
    """Each crawled page as it arrives: one section (or more, for a huge page) whose
    chunks carry the page's ``url`` and ``title``."""
    crawler = ports.crawler
    if crawler is None:
        raise PermanentError("website sources cannot be processed by this server (no crawler configured)")
    if not source.url:
        raise PermanentError("the URL of this website source was not stored")
    options = CrawlOptions.from_dict(source.options.get("crawl") or {})
    report = CrawlReport()
    pages = 0
    try:
        async for page in crawler.crawl(source.url, options, report, on_progress=on_progress):
            pages += 1
            meta = {"url": page.url, "title": page.title or ""}
            lo, hi = (pages - 1) / options.max_pages, pages / options.max_pages
            splitter = SectionSplitter(config.max_section_chars)
            for text in splitter.feed(page.text) + splitter.finish():
                yield Section(text=text, metadata=meta), lo, hi
    finally:
        result.update(report.result())
        ports.telemetry.pages_crawled("kept", report.pages_crawled)
        ports.telemetry.pages_crawled("skipped", report.pages_skipped)
        ports.telemetry.pages_crawled("failed", report.pages_failed)
    if pages == 0:
        raise PermanentError("the crawl kept no page with text (see the skipped and failed URLs)")
