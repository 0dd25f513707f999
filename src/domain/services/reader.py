"""Turning a stored source into sections of text, whatever its type."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from domain.documents import ExtractionRequest, Section
from domain.errors import PermanentError
from domain.services.deps import Ports, ServiceConfig
from domain.sources import Source, SourceType
from domain.text import SectionSplitter

ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]

# (section, fraction of the input done before it, fraction done after it)
Sections = AsyncIterator[tuple[Section, float, float]]


def read_sections(ports: Ports, source: Source, config: ServiceConfig, *, on_progress: ProgressFn) -> Sections:
    if source.type is SourceType.TEXT:
        return _text_sections(ports, source, config)
    if source.type is SourceType.FILE:
        return _file_sections(ports, source, on_progress)
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
