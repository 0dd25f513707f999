"""Chunking: split text into pieces that fit an embedding model, with overlap.

``chunk_text`` cuts at the coarsest boundaries that work (paragraph, line, sentence, word,
then character; see ``domain.text_boundaries``), merges the pieces greedily up to
``size`` and starts each chunk with up to ``overlap`` units from the end of the previous
one. Sizes come from a pluggable ``Measure`` (characters, or the tokens of an encoding).

Guarantees, for any text:

- every chunk measures at most ``size`` by the very same measure (``measure.count``);
- ``text[chunk.start:chunk.end] == chunk.text``; chunks are trimmed of whitespace and
  never empty; starts strictly increase and ends never decrease;
- every non-whitespace character of the text is in some chunk; a blank text gives ``[]``;
- the result depends only on the text and the options.

A chunk can only be as small as one code point: with tokens that is up to 4 units in
cl100k, so token sizes below 16 are refused upstream (``ChunkingOptions``) and a size too
small for some character raises ``InvalidInput``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.chunk_packing import Packer
from domain.chunk_pieces import Splitter
from domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Chunk:
    """``text[start:end]`` of the source text, the ``index``-th chunk of it."""

    index: int
    start: int
    end: int
    text: str
    char_count: int
    word_count: int


class Measure(Protocol):
    """How the size of a piece of text is measured (tokens of one encoding, or characters)."""

    def count(self, text: str) -> int:
        """The size of ``text``."""
        ...

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """The size of each of ``texts``, in order; faster than one ``count`` at a time."""
        ...

    def additive_at_whitespace(self, text: str) -> bool:
        """Whether sizes add up exactly across whitespace-aligned boundaries of ``text``.

        True promises ``count(text[a:b]) == count(text[a:p]) + count(text[p:b])`` for every
        whitespace-aligned ``p`` (``domain.text_boundaries``) with ``text[p:b]`` not blank.
        The chunker then plans chunks from summed piece sizes without measuring them again;
        False (always safe) makes it measure every chunk.
        """
        ...

    def prefix_sizes(self, text: str) -> PrefixSizes | None:
        """Sizes of prefixes of ``text`` from one pass over it, or None if not offered.

        Only asked for a text that ``additive_at_whitespace``; sizes of the pieces between
        whitespace-aligned positions are then differences of prefix sizes, so the text is
        measured once instead of piece by piece.
        """
        ...


class PrefixSizes(Protocol):
    """``count(text[:p])`` for whitespace-aligned positions ``p`` of one text."""

    def at(self, positions: Sequence[int]) -> list[int]:
        """The size of ``text[:p]`` for each of ``positions`` (ascending), or -1 where unknown."""
        ...


class CharacterMeasure:
    """Size in Unicode code points."""

    def count(self, text: str) -> int:
        return len(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    def additive_at_whitespace(self, text: str) -> bool:
        return True

    def prefix_sizes(self, text: str) -> PrefixSizes | None:
        return _CharacterPrefixes()


class _CharacterPrefixes:
    def at(self, positions: Sequence[int]) -> list[int]:
        return list(positions)


class Chunker:
    """A measure and the chunk size and overlap to cut texts with."""

    def __init__(self, measure: Measure, *, size: int, overlap: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"chunk size must be a positive integer, not {size!r}")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
            raise InvalidInput(f"chunk overlap must be at least 0 and smaller than {size}, not {overlap!r}")
        self.measure = measure
        self.size = size
        self.overlap = overlap

    def chunk(self, text: str) -> list[Chunk]:
        """``text`` cut into chunks; see the module docstring for the guarantees."""
        if not text or text.isspace():
            return []
        additive = self.measure.additive_at_whitespace(text)
        splitter = Splitter(text, self.measure, self.size, additive=additive)
        spans = Packer(splitter, size=self.size, overlap=self.overlap).spans()
        chunks = []
        for index, (start, end) in enumerate(spans):
            body = text[start:end]
            chunks.append(Chunk(index, start, end, body, len(body), len(body.split())))
        return chunks


def chunk_text(text: str, *, size: int, overlap: int, measure: Measure) -> list[Chunk]:
    """Cut ``text`` into chunks of at most ``size`` by ``measure``, overlapping by up to ``overlap``."""
    return Chunker(measure, size=size, overlap=overlap).chunk(text)
