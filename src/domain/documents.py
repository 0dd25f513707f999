"""What extraction yields: sections of plain text with where they came from."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text chunked on its own (one document, one crawled page).

    ``metadata`` is copied onto every chunk of the section (``url`` and ``title`` of a
    page, say). ``page_starts`` maps offsets to page numbers for paged documents: entry
    ``(offset, page)`` means page ``page`` begins at ``offset`` of ``text``.
    """

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    page_starts: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        if not self.page_starts:
            return None
        offsets = [start for start, _ in self.page_starts]
        i = bisect.bisect_right(offsets, offset) - 1
        return self.page_starts[max(i, 0)][1]

    def chunk_extra(self, start: int, end: int) -> dict[str, Any]:
        """Metadata for the chunk at ``[start, end)``: the section's, plus its page span."""
        extra = dict(self.metadata)
        page = self.page_at(start)
        if page is not None:
            extra["page"] = page
            last = self.page_at(max(start, end - 1))
            if last is not None and last != page:
                extra["page_end"] = last
        return extra


@dataclass(frozen=True, slots=True)
class ExtractionRequest:
    """A stored file to read: where it is, what it is, what the user called it."""

    path: Path
    media_type: str
    filename: str | None = None
