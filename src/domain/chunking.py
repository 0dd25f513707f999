"""Chunking: split text into pieces that fit an embedding model, with overlap.

(Interface; the implementation lands with the chunker work.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str
    char_count: int
    word_count: int


class Measure(Protocol):
    """How the size of a piece of text is measured (tokens of one encoding, or characters)."""

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


class CharacterMeasure:
    """Size in Unicode code points."""

    def count(self, text: str) -> int:
        return len(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]
