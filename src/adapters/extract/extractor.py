"""``FileTextExtractor``: the ``TextExtractor`` port for uploaded files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from adapters.extract.isolation import IsolatedExtraction
from adapters.extract.limits import ExtractLimits
from adapters.extract.tabular import extract_csv
from adapters.extract.text import extract_markdown, extract_text
from domain.documents import ExtractionRequest, Section
from domain.files import FileType
from ports.extract import ExtractionFailed, ProgressFn, UnsupportedMediaType

# Complex binary formats, and JSON (parsed whole): in a child with time and memory limits.
ISOLATED = {FileType.PDF: "pdf", FileType.DOCX: "docx", FileType.JSON: "json"}
# Streaming formats: in a thread of the worker, memory bounded by a section.
IN_THREAD: dict[FileType, Callable[..., Iterator[Section]]] = {
    FileType.TXT: extract_text,
    FileType.MD: extract_markdown,
    FileType.CSV: extract_csv,
}


def file_type(media_type: str) -> FileType | None:
    try:
        return FileType(media_type.split(";")[0].strip().lower())
    except ValueError:
        return None


class FileTextExtractor:
    def __init__(self, limits: ExtractLimits, isolation: IsolatedExtraction | None = None) -> None:
        self.limits = limits
        self.isolation = isolation or IsolatedExtraction(
            memory_mb=limits.memory_mb, timeout_seconds=limits.timeout_seconds
        )

    def supports(self, media_type: str) -> bool:
        return file_type(media_type) is not None

    async def extract(
        self, request: ExtractionRequest, *, on_progress: ProgressFn | None = None
    ) -> AsyncIterator[Section]:
        kind = file_type(request.media_type)
        if kind is None:
            raise UnsupportedMediaType(f"files of type {request.media_type} cannot be extracted")
        path = str(request.path)
        if kind in ISOLATED:
            async for section in self.isolation.run(ISOLATED[kind], path, self.limits, on_progress):
                yield section
            return
        sections = IN_THREAD[kind](path, self.limits, lambda progress: None)
        async for section in _in_thread(sections):
            yield section

    async def warm(self) -> None:
        await self.isolation.warm()

    async def close(self) -> None:
        await self.isolation.close()


_DONE: Any = object()


async def _in_thread(sections: Iterator[Section]) -> AsyncIterator[Section]:
    """Drive a blocking generator from a thread, one section at a time."""
    while True:
        try:
            section = await asyncio.to_thread(next, sections, _DONE)
        except ExtractionFailed:
            raise
        except (OSError, ValueError, UnicodeError) as exc:
            raise ExtractionFailed(f"the file could not be read ({exc})") from exc
        if section is _DONE:
            return
        yield section
