"""Pieces: the text tiled into measured spans, each small enough to fit in a chunk.

The text is cut at paragraph boundaries; a piece larger than the chunk size is cut again
at the next level (line, sentence, word, character), and so on until every piece fits.
Pieces tile the text: each one ends where the next begins, whitespace included, so the
size of a run of pieces is the sum of their sizes wherever the measure is additive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.errors import InvalidInput
from domain.text_boundaries import Level, aligned, cut, whitespace_aligned

if TYPE_CHECKING:
    from domain.chunking import Measure, PrefixSizes


# Texts up to this many code points per unit of chunk size are measured whole first.
_WHOLE_TEXT_FACTOR = 16


@dataclass(slots=True)
class Piece:
    """``text[start:end]`` of size ``size`` (-1 until measured), cut at ``level``.

    ``exact`` tells whether sizes add up across the boundary at ``start``: true for a
    whitespace-aligned boundary of an additive measure.
    """

    start: int
    end: int
    size: int
    level: Level
    exact: bool


class Splitter:
    """Cuts one text into pieces for one measure and chunk size."""

    def __init__(self, text: str, measure: Measure, size: int, *, additive: bool) -> None:
        self.text = text
        self.measure = measure
        self.size = size
        self.additive = additive
        # An additive measure may size the whole text in one pass; pieces between aligned
        # positions are then sized by subtraction instead of being measured one by one.
        self.prefix: PrefixSizes | None = measure.prefix_sizes(text) if additive else None
        # Character cuts aim at an eighth of a chunk so chunks still fill up well when
        # merged, without measuring a long word one code point at a time.
        self.step = max(1, size // 8)

    def pieces(self) -> list[Piece]:
        """The whole text as pieces that each measure at most ``size``."""
        out: list[Piece] = []
        whole = Piece(0, len(self.text), -1, Level.PARAGRAPH, self.additive)
        # A short text is measured whole first, so one that fits stays one piece. A long
        # one is cut straight away rather than measured twice; pieces that could have stayed
        # together are merged again when chunks are packed.
        if self.prefix is not None:
            whole.size = self.prefix.at([len(self.text)])[0]
        if whole.size < 0 and len(self.text) <= _WHOLE_TEXT_FACTOR * self.size:
            whole.size = self.measure.count(self.text)
        if 0 <= whole.size <= self.size:
            return [whole]
        self._fit(whole, Level.PARAGRAPH, out)
        return out

    def fit(self, piece: Piece) -> list[Piece]:
        """``piece`` cut finer until every part measures at most ``size``."""
        out: list[Piece] = []
        self._fit(piece, Level(min(piece.level + 1, Level.CHARACTER)), out)
        return out

    def refine(self, piece: Piece) -> list[Piece]:
        """``piece`` cut at the next level that cuts it, unmeasured; [] for one code point."""
        level, points = self._cut(piece, Level(min(piece.level + 1, Level.CHARACTER)))
        return self._split(piece, level, points)

    def measure_pieces(self, pieces: Sequence[Piece]) -> None:
        sizes = self.measure.count_many([self.text[p.start : p.end] for p in pieces])
        for piece, size in zip(pieces, sizes, strict=True):
            piece.size = size

    def _fit(self, span: Piece, level: Level, out: list[Piece]) -> None:
        level, points = self._cut(span, level)
        if not points:
            # A single code point (with whitespace around it) is the floor of cutting.
            if self.measure.count(self.text[span.start : span.end].strip()) > self.size:
                raise InvalidInput(f"chunk size {self.size} is too small for the character at offset {span.start}")
            if span.size < 0:
                self.measure_pieces([span])
            out.append(span)
            return
        finer = Level(min(level + 1, Level.CHARACTER))
        for part in self._split(span, level, points, measured=True):
            if part.size <= self.size:
                out.append(part)
            else:
                self._fit(part, finer, out)

    def _cut(self, span: Piece, level: Level) -> tuple[Level, list[int]]:
        """The first level from ``level`` down that cuts ``span``, and its cut points."""
        for lvl in Level:
            if lvl >= level:
                points = cut(self.text, span.start, span.end, lvl, self._step(span, lvl))
                if points:
                    return lvl, points
        return Level.CHARACTER, []

    def _step(self, span: Piece, level: Level) -> int:
        if level is Level.CHARACTER and span.level is Level.CHARACTER:
            # A character piece that is still too large is halved (``cut`` caps the step
            # at half the text), down to single code points.
            return span.end - span.start
        return self.step

    def _split(self, span: Piece, level: Level, points: list[int], *, measured: bool = False) -> list[Piece]:
        """``span`` cut at ``points``; with ``measured``, all parts measured in one batch."""
        if not points:
            return []
        text = self.text
        starts = [span.start, *points]
        ends = [*points, span.end]
        if not self.additive or level is Level.CHARACTER:
            exact = [False] * len(points)
        elif level is Level.SENTENCE:
            exact = [aligned(text, level, p) for p in points]
        else:
            exact = [True] * len(points)
        exact.insert(0, span.exact)
        sizes = self._sizes(starts, ends, exact) if measured else [-1] * len(starts)
        return list(map(Piece, starts, ends, sizes, [level] * len(starts), exact))

    def _sizes(self, starts: list[int], ends: list[int], exact: list[bool]) -> list[int]:
        """Sizes of ``text[starts[i]:ends[i]]`` (consecutive parts of one span)."""
        text = self.text
        if self.prefix is None:
            return self.measure.count_many([text[a:b] for a, b in zip(starts, ends, strict=True)])
        # Part i is sized by subtraction when both its ends are whitespace-aligned: its
        # start when ``exact[i]``, its end when the next part's start is (or, for the last
        # part, when the span's end is).
        end = ends[-1]
        closed = [*exact[1:], whitespace_aligned(text, end)]
        at = self.prefix.at([*starts, end])
        sizes = [-1] * len(starts)
        unknown = []
        for i in range(len(starts)):
            if exact[i] and closed[i] and at[i] >= 0 and at[i + 1] >= 0:
                sizes[i] = at[i + 1] - at[i]
            else:
                unknown.append(i)
        if unknown:
            counted = self.measure.count_many([text[starts[i] : ends[i]] for i in unknown])
            for i, size in zip(unknown, counted, strict=True):
                sizes[i] = size
        return sizes
