"""Streaming text into bounded sections cut at natural boundaries."""

from __future__ import annotations

import re

_BREAKS = (re.compile(r"\n[ \t]*\n"), re.compile(r"\n"), re.compile(r"\s"))


def cut_point(text: str, limit: int) -> int:
    """Where to end a section of at most ``limit`` characters of ``text``.

    The last paragraph break before the limit, else the last line break, else the last
    whitespace, else the limit itself. Never returns 0 for non-empty text.
    """
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    # Only look back over the second half: a break near the start would make tiny sections.
    floor = limit // 2
    for pattern in _BREAKS:
        last = None
        for match in pattern.finditer(window, floor):
            last = match
        if last is not None:
            return last.end()
    return limit


class SectionSplitter:
    """Feed text as it arrives; get back sections of at most ``limit`` characters.

    Concatenating every section returned, in order, gives back exactly the text fed.
    """

    def __init__(self, limit: int) -> None:
        if limit < 2:
            raise ValueError("section limit must be at least 2")
        self._limit = limit
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        while len(self._buffer) > self._limit:
            end = cut_point(self._buffer, self._limit)
            out.append(self._buffer[:end])
            self._buffer = self._buffer[end:]
        return out

    def finish(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return [rest] if rest else []


def count_words(text: str) -> int:
    return len(text.split())
