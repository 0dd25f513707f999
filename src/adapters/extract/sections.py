"""Assembling extracted text into bounded sections, keeping page numbers and headings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.documents import Section
from domain.text import SectionSplitter


class PagedSections:
    """Pages in, sections of at most ``limit`` characters out, each with its page starts.

    Pages are joined by a blank line; a page longer than the limit is cut at paragraph
    boundaries (its pieces all carry its page number).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._starts: list[tuple[int, int]] = []
        self._size = 0

    def add(self, page: int, text: str) -> Iterator[Section]:
        text = text.strip()
        if not text:
            return
        for piece in _pieces(text, self._limit):
            if self._parts and self._size + 2 + len(piece) > self._limit:
                yield self._flush()
            if self._parts:
                self._parts.append("\n\n")
                self._size += 2
            self._starts.append((self._size, page))
            self._parts.append(piece)
            self._size += len(piece)

    def finish(self) -> Iterator[Section]:
        if self._parts:
            yield self._flush()

    def _flush(self) -> Section:
        section = Section(text="".join(self._parts), page_starts=tuple(self._starts))
        self._parts, self._starts, self._size = [], [], 0
        return section


class BlockSections:
    """Blocks of text (paragraphs, records) in, bounded sections out.

    ``boundary`` starts a new section whatever its size (a heading); its ``metadata``
    (the heading's text) is copied onto every chunk of the sections that follow.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._metadata: dict[str, Any] = {}

    def boundary(self, metadata: dict[str, Any] | None = None) -> Iterator[Section]:
        if self._parts:
            yield self._flush()
        self._metadata = dict(metadata or {})

    def add(self, block: str) -> Iterator[Section]:
        if not block.strip():
            return
        for piece in _pieces(block, self._limit):
            if self._parts and self._size + 2 + len(piece) > self._limit:
                yield self._flush()
            if self._parts:
                self._parts.append("\n\n")
                self._size += 2
            self._parts.append(piece)
            self._size += len(piece)

    def finish(self) -> Iterator[Section]:
        if self._parts:
            yield self._flush()

    def _flush(self) -> Section:
        section = Section(text="".join(self._parts), metadata=dict(self._metadata))
        self._parts, self._size = [], 0
        return section


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` itself, or cut at paragraph and sentence boundaries when over ``limit``."""
    if len(text) <= limit:
        return [text]
    splitter = SectionSplitter(limit)
    return splitter.feed(text) + splitter.finish()
