"""Packing: pieces merged greedily into chunks, each starting with an overlap.

Sizes of pieces are added to plan a chunk. Across whitespace-aligned boundaries of an
additive measure the sum is the chunk's exact size (after correcting the first and last
piece for the whitespace a chunk is trimmed of); across any other boundary it is an
estimate, and the chunk is measured for real. Either way a chunk is only emitted once its
true size is known to fit.
"""

from __future__ import annotations

from domain.chunk_pieces import Piece, Splitter


class Packer:
    """Packs the pieces of one text into ``(start, end)`` chunk spans."""

    def __init__(self, splitter: Splitter, *, size: int, overlap: int) -> None:
        self.splitter = splitter
        self.text = splitter.text
        self.measure = splitter.measure
        self.size = size
        self.overlap = overlap

    def spans(self) -> list[tuple[int, int]]:
        """Trimmed spans of the chunks, in order: starts increase, ends never decrease."""
        pieces = self.splitter.pieces()
        spans: list[tuple[int, int]] = []
        carry: list[Piece] = []
        k = 0
        while k < len(pieces):
            first_new = k
            items, carried, k = self._fill(pieces, carry, k)
            settled = self._settle(pieces, items, carried, k)
            if settled is None:
                # The chunk's one new piece was cut finer in place: plan it again from there.
                k, carry = first_new, []
                continue
            items, k, span = settled
            spans.append(span)
            carry = self._overlap(items) if self.overlap and k < len(pieces) else []
        return spans

    def _fill(self, pieces: list[Piece], carry: list[Piece], k: int) -> tuple[list[Piece], int, int]:
        """The carried overlap plus as many next pieces as the summed sizes allow."""
        size = self.size
        following = pieces[k]
        total = sum(p.size for p in carry)
        # Never so much overlap that the chunk cannot take at least one new piece.
        while carry and total + following.size > size:
            total -= carry[0].size
            carry = carry[1:]
        items = [*carry, following]
        total += following.size
        k += 1
        end = len(pieces)
        while k < end:
            piece = pieces[k]
            total += piece.size
            if total > size:
                break
            items.append(piece)
            k += 1
        return items, len(carry), k

    def _settle(
        self, pieces: list[Piece], items: list[Piece], carried: int, k: int
    ) -> tuple[list[Piece], int, tuple[int, int]] | None:
        """Measure the planned chunk truly; shrink it until it fits, grow it if estimates were high."""
        size = self.size
        while True:
            real, exact, a, b = self._true_size(items)
            if real <= size:
                break
            if len(items) > carried + 1:
                items.pop()
                k -= 1
            elif carried:
                items.pop(0)
                carried -= 1
            else:
                # A lone piece that no longer fits once trimmed (tokens at its edges merge
                # differently): cut it finer in place and plan the chunk again.
                pieces[k - 1 : k] = self.splitter.fit(items[0])
                return None
        if not exact:
            # The summed sizes were estimates, often high where tokens merge across cuts:
            # take further pieces while the chunk truly fits.
            text, measure = self.text, self.measure
            while k < len(pieces) and real + pieces[k].size <= size:
                end = _trimmed_end(text, pieces[k].end)
                grown = measure.count(text[a:end])
                if grown > size:
                    break
                items.append(pieces[k])
                k += 1
                real, b = grown, end
        return items, k, (a, b)

    def _true_size(self, items: list[Piece]) -> tuple[int, bool, int, int]:
        """The measure of the trimmed chunk, whether it came from sums, and its span."""
        text, measure = self.text, self.measure
        first, last = items[0], items[-1]
        a = _trimmed_start(text, first.start)
        b = _trimmed_end(text, last.end)
        exact = all(p.exact for p in items[1:])
        if not exact or len(items) == 1:
            if exact and a == first.start and b == first.end:
                return first.size, True, a, b
            return measure.count(text[a:b]), exact, a, b
        real = sum(p.size for p in items)
        # Only the first and last pieces hold the whitespace the chunk is trimmed of.
        if a != first.start:
            real += self._trimmed_change(first, a, first.end, _aligned_after_first_word(text, a, first.end))
        if b != last.end:
            real += self._trimmed_change(last, last.start, b, _aligned_before_last_word(text, last.start, b))
        return real, True, a, b

    def _trimmed_change(self, piece: Piece, start: int, end: int, cut: int) -> int:
        """How the size of ``piece`` changes when trimmed to ``text[start:end]``.

        Sizes add up across the whitespace-aligned ``cut``, so only the side of it that is
        trimmed needs measuring twice: one word and its whitespace, not the whole piece.
        """
        text, count = self.text, self.measure.count
        if cut < 0:
            return count(text[start:end]) - piece.size
        if start != piece.start:
            return count(text[start:cut]) - count(text[piece.start : cut])
        return count(text[cut:end]) - count(text[cut : piece.end])

    def _overlap(self, items: list[Piece]) -> list[Piece]:
        """The end of a chunk to start the next one with.

        Whole pieces from the end while they fit the overlap; if not even the last one
        fits, its finer pieces (sentences, then words...) instead: the overlap is aligned
        to the coarsest boundary that gives one. It never reaches back to the chunk's
        start, so starts strictly increase.
        """
        budget = self.overlap
        taken: list[Piece] = []
        i = len(items) - 1
        while i > 0 and items[i].size <= budget:
            budget -= items[i].size
            taken.append(items[i])
            i -= 1
        if not taken:
            taken = self._finer_tail(items[i], budget, keep_first=i > 0)
        taken.reverse()
        return taken

    def _finer_tail(self, piece: Piece, budget: int, *, keep_first: bool) -> list[Piece]:
        """Finer pieces from the end of ``piece`` that fit ``budget``, last first."""
        while True:
            parts = self.splitter.refine(piece)
            lowest = 0 if keep_first else 1
            taken: list[Piece] = []
            j = len(parts) - 1
            while j >= lowest:
                part = parts[j]
                # Measured one at a time from the end: only the tail of a piece is needed.
                self.splitter.measure_pieces([part])
                if part.size > budget:
                    break
                budget -= part.size
                taken.append(part)
                j -= 1
            if taken or j < lowest:
                return taken
            piece, keep_first = parts[j], True


# How far to look for the end of a word next to trimmed whitespace before measuring the
# whole piece instead.
_WORD_REACH = 64


def _trimmed_start(text: str, start: int) -> int:
    while text[start].isspace():
        start += 1
    return start


def _trimmed_end(text: str, end: int) -> int:
    while text[end - 1].isspace():
        end -= 1
    return end


def _aligned_after_first_word(text: str, start: int, end: int) -> int:
    """A whitespace-aligned position after the first word of ``text[start:end]``, or -1.

    There must be more text after it: sizes add up only where the right side is not blank.
    """
    i = start
    limit = min(end, start + _WORD_REACH)
    while i < limit and not text[i].isspace():
        i += 1
    if i >= limit:
        return -1
    cut = i
    while i < end and text[i].isspace():
        if text[i] in "\r\n":
            cut = i + 1  # after the last line break of the run, not before its first
        i += 1
    return cut if i < end else -1


def _aligned_before_last_word(text: str, start: int, end: int) -> int:
    """A whitespace-aligned position before the last word of ``text[start:end]``, or -1."""
    i = end
    limit = max(start, end - _WORD_REACH)
    while i > limit and not text[i - 1].isspace():
        i -= 1
    if i <= limit:
        return -1
    after_break = -1
    while i > start and text[i - 1].isspace():
        i -= 1
        if after_break < 0 and text[i] in "\r\n":
            after_break = i + 1  # after the last line break of the run, not before it
    if after_break >= 0:
        return after_break
    return i if i > start else -1
