"""Where text may be cut: paragraph, line, sentence, word and character boundaries.

A boundary is a position ``p`` in the text: the cut between ``text[p - 1]`` and ``text[p]``.
Every cut leaves non-whitespace on both sides, so no piece is whitespace only.

Whitespace boundaries are placed so that they are *whitespace-aligned*, the property a
token measure needs to add the sizes of neighbouring pieces exactly
(see ``Measure.additive_at_whitespace``). A position ``p`` is whitespace-aligned when either

- ``text[p - 1]`` is a line break (``\\r`` or ``\\n``) and the whitespace that starts at
  ``p`` holds no further line break: paragraph and line boundaries go after the last
  break of a run of whitespace, its indentation goes with the next piece; or
- ``text[p - 1]`` is not whitespace and ``text[p]`` is whitespace other than a line
  break: sentence and word boundaries go before the space that follows them.

Sentence ends of scripts written without spaces (CJK full stops) and character cuts are not
whitespace-aligned: sizes across them are only estimates, which the chunker verifies.
"""

from __future__ import annotations

import enum
import re
import unicodedata


class Level(enum.IntEnum):
    """Boundary levels, coarsest first. A piece too large at one level is cut at the next."""

    PARAGRAPH = 0
    LINE = 1
    SENTENCE = 2
    WORD = 3
    CHARACTER = 4


# Possessive quantifiers keep "\r\n" one line break: with backtracking "\r" and "\n" would
# count as two, and a single CRLF would pass for a blank line. Text without "\r" (the usual
# case) takes the simpler patterns, which the regex engine scans about twice as fast.
_BREAK = r"(?:\r\n?+|\n)"
_PARAGRAPH = re.compile(rf"{_BREAK}(?:[^\S\r\n]*+{_BREAK})+")
_LINE = re.compile(rf"{_BREAK}(?:[^\S\r\n]*+{_BREAK})*")
_PARAGRAPH_LF = re.compile(r"\n(?:[^\S\n]*+\n)+")
_LINE_LF = re.compile(r"\n(?:[^\S\n]*+\n)*")
# A sentence ends with terminal punctuation (and closing quotes or brackets) followed by a
# space, or, in scripts written without spaces (CJK full stops), by anything at all. Written
# as escapes because several of them look like ASCII punctuation.
_TERMINALS = re.escape(".!?\u2026\u3002\uff01\uff1f\uff61\u061f\u0964")
_NO_SPACE_TERMINALS = re.escape("\u3002\uff01\uff1f\uff61")
_CLOSERS = re.escape("\"')]\u201d\u2019\u00bb\u300d\u300f\uff09")
_SENTENCE = re.compile(rf"[{_TERMINALS}]+[{_CLOSERS}]*(?=[^\S\r\n])|[{_NO_SPACE_TERMINALS}]+[{_CLOSERS}]*(?=\S)")
_WORD = re.compile(r"[^\S\r\n]+")
_NON_SPACE = re.compile(r"\S")

_ZWJ = "\u200d"
# How far a character cut may move to avoid splitting a grapheme before giving up on it.
_CLUSTER_REACH = 32


def cut(text: str, start: int, end: int, level: Level, step: int) -> list[int]:
    """Boundaries of ``level`` strictly inside ``text[start:end]``, ascending.

    ``step`` is the length in code points of the pieces a character-level cut aims for.
    """
    first = _first_non_space(text, start, end)
    if first < 0:
        return []
    last = _last_non_space(text, start, end)
    if level is Level.PARAGRAPH or level is Level.LINE:
        plain = text.find("\r", first, last) < 0
        if level is Level.PARAGRAPH:
            pattern = _PARAGRAPH_LF if plain else _PARAGRAPH
        else:
            pattern = _LINE_LF if plain else _LINE
        points = [m.end() for m in pattern.finditer(text, first, last)]
    elif level is Level.SENTENCE:
        points = [m.end() for m in _SENTENCE.finditer(text, first, last)]
    elif level is Level.WORD:
        # A run of spaces after a line break is indentation, which goes with its word.
        points = [m.start() for m in _WORD.finditer(text, first, last) if text[m.start() - 1] not in "\r\n"]
    else:
        # At most half the text, so that anything longer than one code point is cut.
        step = max(1, min(step, (last + 2 - first) // 2))
        return _character_cuts(text, first, last + 1, step)
    # Searching within [first, last) keeps every cut after the first non-space character
    # and at or before the last one, so both sides of every cut hold some text.
    return [p for p in points if first < p <= last]


def aligned(text: str, level: Level, position: int) -> bool:
    """Whether a boundary of ``level`` at ``position`` is whitespace-aligned."""
    if level is Level.CHARACTER:
        return False
    if level is Level.SENTENCE:
        return text[position].isspace()
    return True


def whitespace_aligned(text: str, position: int) -> bool:
    """Whether ``position`` is whitespace-aligned (see the module docstring); both ends of the text are."""
    if position <= 0 or position >= len(text):
        return True
    before = text[position - 1]
    if before == "\r" or before == "\n":
        i = position
        while i < len(text) and text[i].isspace():
            if text[i] == "\r" or text[i] == "\n":
                return False
            i += 1
        return True
    after = text[position]
    return not before.isspace() and after.isspace() and after != "\r" and after != "\n"


def _first_non_space(text: str, start: int, end: int) -> int:
    m = _NON_SPACE.search(text, start, end)
    return m.start() if m else -1


def _last_non_space(text: str, start: int, end: int) -> int:
    i = end - 1
    while i >= start and text[i].isspace():
        i -= 1
    return i


def _character_cuts(text: str, start: int, end: int, step: int) -> list[int]:
    """Cuts every ``step`` code points, each moved to the nearest grapheme boundary in reach."""
    points = []
    previous = start
    target = start + step
    while target < end:
        point = _cluster_boundary_near(text, target, previous, end)
        points.append(point)
        previous = point
        target = point + step
    return points


def _cluster_boundary_near(text: str, target: int, low: int, high: int) -> int:
    for back in range(min(_CLUSTER_REACH, target - low - 1) + 1):
        if is_cluster_boundary(text, target - back):
            return target - back
    for ahead in range(1, min(_CLUSTER_REACH, high - target - 1) + 1):
        if is_cluster_boundary(text, target + ahead):
            return target + ahead
    # One grapheme longer than the reach (a pile of combining marks): cut the code points.
    return target


def is_cluster_boundary(text: str, position: int) -> bool:
    """A simplified grapheme-cluster boundary test.

    Keeps a base character with its combining marks, variation selectors, emoji skin-tone
    modifiers and tag characters, keeps emoji joined by ZWJ together, keeps regional
    indicator pairs (flags) together and never splits CRLF. Not the full UAX #29 rules:
    a cut it misses only splits a grapheme, it never loses text.
    """
    before, after = text[position - 1], text[position]
    if before == "\r" and after == "\n":
        return False
    if after == _ZWJ or before == _ZWJ:
        return False
    if _extends(after):
        return False
    if _regional_indicator(before) and _regional_indicator(after):
        run = 0
        i = position - 1
        while i >= 0 and _regional_indicator(text[i]):
            run += 1
            i -= 1
        return run % 2 == 0
    return True


def _extends(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char).startswith("M")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
    )


def _regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF
