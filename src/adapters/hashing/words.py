"""The words of a whole batch of texts at once, found and fingerprinted with numpy.

``re.findall(r"\\w+", text)`` builds a Python string for every word, and looking each one
up in a memo costs another Python call: most of the embedder's time. Here the texts of a
batch are joined, their code points classified with one table lookup (the table is built
from the very same ``\\w`` pattern, so the words are exactly the ones ``findall`` finds),
and every word gets a 128-bit fingerprint: two independent 64-bit sums of hashed
``(code point, position in the word)`` pairs. Only the distinct words of a batch reach
Python, and only those never seen before become strings (to be hashed with blake2b, as
ever). Two different words sharing a fingerprint is about 2**-128 likely; one half of it
matching alone is detected, and the caller then falls back to ``findall``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")
# Joins the texts of a batch: not a word character, so no word spans two texts.
_SEPARATOR = "\x00"
_CODE_POINTS = 0x110000

_lock = threading.Lock()
_word_table: np.ndarray | None = None

# Constants of the two fingerprints (odd, so that multiplying by them loses nothing).
_A = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_B = (np.uint64(0xD6E8FEB86659FD93), np.uint64(0x165667B19E3779F9))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def word_characters() -> np.ndarray:
    """Whether ``WORD`` counts each code point as a word character, indexed by code point."""
    global _word_table
    if _word_table is None:
        with _lock:
            if _word_table is None:
                table = np.zeros(_CODE_POINTS, dtype=bool)
                every = "".join(map(chr, range(_CODE_POINTS)))
                for match in WORD.finditer(every):
                    table[match.start() : match.end()] = True
                _word_table = table
    return _word_table


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array (which wraps around, by design)."""
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


@dataclass(frozen=True, slots=True)
class Words:
    """The words of a batch of texts, in order: which text each is in, and its fingerprint."""

    joined: str  # the texts, NFKC-normalised and lower-cased, joined by _SEPARATOR
    starts: np.ndarray  # where each word starts and ends in ``joined`` (int64)
    ends: np.ndarray
    text_of: np.ndarray  # the index of the text of each word (int64)
    key1: np.ndarray  # the two halves of each word's fingerprint (uint64)
    key2: np.ndarray

    def word(self, i: int) -> str:
        return self.joined[int(self.starts[i]) : int(self.ends[i])]


def scan(texts: Sequence[str]) -> Words:
    """The words ``WORD.findall(unicodedata.normalize("NFKC", text).lower())`` finds in each text."""
    lowered = [unicodedata.normalize("NFKC", t).lower() for t in texts]
    joined = _SEPARATOR.join(lowered)
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    inside = word_characters()[points]
    edges = np.flatnonzero(np.diff(inside, prepend=False, append=False))
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    text_starts = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]], dtype=np.int64)
    text_of = np.searchsorted(text_starts, starts, side="right") - 1
    if not len(starts):
        empty = np.zeros(0, dtype=np.uint64)
        return Words(joined, starts, ends, text_of, empty, empty)
    chars = points[inside].astype(np.uint64)
    first = np.cumsum(lengths) - lengths  # where each word begins in ``chars``
    position = np.arange(len(chars), dtype=np.uint64) - np.repeat(first, lengths).astype(np.uint64)
    keys = []
    for a, b in zip(_A, _B, strict=True):
        keys.append(np.add.reduceat(_mix(chars * a + (position + np.uint64(1)) * b), first))
    return Words(joined, starts, ends, text_of, keys[0], keys[1])
