"""A deterministic lexical embedder: feature hashing of words and word pairs.

It needs no model download and no network, so it is the embedded default until a
semantic model is wired in, and the embedder of the fast tests. Texts that share
words point in similar directions under cosine similarity; it knows nothing of
synonyms or meaning.
"""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from collections.abc import Iterator, Sequence
from typing import cast

import numpy as np

from adapters.hashing.words import WORD as _WORD
from adapters.hashing.words import Words, scan
from adapters.local.threaded_embedder import ThreadedEmbedder
from ports.embed import Embeddings

# A term is identified by a 44-bit hash so that (row, term) packs into one uint64 key:
# counting terms of a whole batch is then one sort instead of a Python loop per text.
# Two distinct words of one text colliding in 44 bits is ~1e-8 likely and would only
# merge their counts; the result stays deterministic.
_TERM_BITS = 44
_TERM_MASK = np.uint64((1 << _TERM_BITS) - 1)
# Texts per numpy pass: bounds the transient (rows x dimensions) float64 buffer, and
# stays far below the 2**20 rows the key packing allows. Code points per pass: bounds the
# transient arrays of ``scan`` (about 40 bytes per code point); a longer text goes alone,
# through findall.
_ROWS_PER_PASS = 4096
_CHARS_PER_PASS = 1 << 20
# Set on the memoised hash of a stopword (term hashes use only the low 44 bits).
_STOP_FLAG = 1 << 63
_STOPWORD = np.uint64(_STOP_FLAG)

# splitmix64 constants, to combine two word hashes into a bigram hash with numpy.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BIGRAM_SALT = np.uint64(0x632BE59BD9B4E5F5)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _word_hash(word: str) -> int:
    # blake2b, never the built-in hash(): that is salted per process, and vectors
    # written by one process must match queries embedded by another, years later.
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << _TERM_BITS) - 1)


def _bigram_hashes(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    x = left * _GOLDEN + right + _BIGRAM_SALT  # uint64 arrays wrap around, by design
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x & _TERM_MASK


# The commonest English function words carry no topic; as terms they only make
# unrelated texts look alike ("how do I ..." against "... do I ...").
STOPWORDS = frozenset(
    "a an and are as at be but by can could did do does for from had has have how i if in into is it its "
    "me my no not of on or our so than that the their them then there these they this to was we were what "
    "when where which who why will with would you your".split()
)


def _passes(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """``texts`` in runs of at most _ROWS_PER_PASS texts and (unless one alone) _CHARS_PER_PASS code points."""
    start, chars = 0, 0
    for i, text in enumerate(texts):
        if i > start and (i - start >= _ROWS_PER_PASS or chars + len(text) > _CHARS_PER_PASS):
            yield texts[start:i]
            start, chars = i, 0
        chars += len(text)
    if start < len(texts):
        yield texts[start:]


def tokenize(text: str) -> list[str]:
    """Lower-cased Unicode word tokens without stopwords; NFKC first so that composed
    and decomposed accents, ligatures and full-width forms give the same words."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
    kept = [w for w in words if w not in STOPWORDS]
    # A text made only of function words still needs a vector.
    return kept or words


class HashingEmbedder(ThreadedEmbedder):
    """Embeds texts by hashing their words and word bigrams into buckets.

    Each distinct term (word or pair of adjacent words) adds ``±(1 + log tf)`` to the
    bucket its stable hash picks; the vector is then L2-normalised. Equal texts give
    equal vectors in every process and on every machine. ``tokens`` in the result is
    the number of words embedded.

    The CPU work runs in a worker thread so the event loop keeps serving while a large
    batch is embedded.
    """

    def __init__(self, dimensions: int = 384, *, batch_size: int = 512, memo_size: int = 200_000) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be at least 2")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._dimensions = dimensions
        self._batch_size = batch_size
        self._memo_size = memo_size
        # Word fingerprint (first half) -> (second half, 44-bit hash | _STOPWORD); and
        # word -> hash for the rare batch embedded the slow way. Replaced (never cleared
        # in place) when full, so a thread still reading the old dict is never surprised.
        self._keyed: dict[int, tuple[int, int]] = {}
        self._memo: dict[str, int] = {}

    @property
    def model(self) -> str:
        return f"sluice-hashing-v2-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def embed_sync(self, texts: Sequence[str]) -> Embeddings:
        """The blocking computation behind ``embed_documents`` (for scripts and benchmarks)."""
        vectors: list[np.ndarray] = []
        words = 0
        for part in _passes(texts):
            # A text longer than a pass alone would need large transient arrays to scan.
            scanned = scan(part) if sum(map(len, part)) <= _CHARS_PER_PASS else None
            hashes = None if scanned is None else self._fingerprinted_hashes(scanned)
            if scanned is None or hashes is None:
                # Too long, or half a fingerprint matched another word's: findall it is.
                lists = [_WORD.findall(unicodedata.normalize("NFKC", t).lower()) for t in part]
                hashes = self._hashes(list(itertools.chain.from_iterable(lists)))
                text_of = np.repeat(np.arange(len(part), dtype=np.int64), [len(w) for w in lists])
            else:
                text_of = scanned.text_of
            matrix, count = self._embed_matrix(hashes, text_of, len(part))
            # Rows of the matrix, not lists of Python floats: a vector index stacks such
            # rows back into a matrix in one copy, not one conversion per value (building
            # and re-reading the lists took a tenth of the embedder's time).
            vectors.extend(matrix)
            words += count
        # A float64 row is a sequence of floats (``len``, indexing, iteration yielding
        # np.float64, a float subclass), as the port asks.
        return Embeddings(vectors=cast("list[Sequence[float]]", vectors), tokens=words)

    def _fingerprinted_hashes(self, words: Words) -> np.ndarray | None:
        """The term hash of each word (| _STOPWORD), from the memo of fingerprints; None
        when a fingerprint half matches a different word's (about 2**-64 likely)."""
        if not len(words.key1):
            return np.zeros(0, dtype=np.uint64)
        distinct, first, inverse = np.unique(words.key1, return_index=True, return_inverse=True)
        if not np.array_equal(words.key2, words.key2[first][inverse]):
            return None
        memo = self._keyed
        values = []
        for k1, k2, at in zip(distinct.tolist(), words.key2[first].tolist(), first.tolist(), strict=True):
            known = memo.get(k1)
            if known is None:
                word = words.word(at)
                known = memo[k1] = (k2, _word_hash(word) | (_STOP_FLAG if word in STOPWORDS else 0))
            elif known[0] != k2:
                return None
            values.append(known[1])
        if len(memo) > self._memo_size:
            self._keyed = {}
        return np.array(values, dtype=np.uint64)[inverse.reshape(-1)]

    def _hashes(self, words: list[str]) -> np.ndarray:
        memo = self._memo
        missing = set(words).difference(memo)
        if missing:
            if len(memo) + len(missing) > self._memo_size:
                memo = {}
                self._memo = memo
                missing = set(words)
            for word in missing:
                memo[word] = _word_hash(word) | (_STOP_FLAG if word in STOPWORDS else 0)
        return np.fromiter(map(memo.__getitem__, words), dtype=np.uint64, count=len(words))

    def _embed_matrix(self, hashes: np.ndarray, text_of: np.ndarray, rows: int) -> tuple[np.ndarray, int]:
        """Vectors of ``rows`` texts from the hashes of their words (stopwords flagged) in order."""
        dims = self._dimensions
        if not len(hashes):
            return np.zeros((rows, dims), dtype=np.float32), 0
        # Stopwords are dropped, except from a text made only of them (as ``tokenize`` does).
        stop = (hashes & _STOPWORD) != 0
        keep = ~stop | (np.bincount(text_of[~stop], minlength=rows)[text_of] == 0)
        unigrams = hashes[keep] & _TERM_MASK
        row_of = text_of[keep].astype(np.uint64)
        # Pairs of adjacent words, never across two texts of the batch.
        same_text = row_of[:-1] == row_of[1:]
        bigrams = _bigram_hashes(unigrams[:-1][same_text], unigrams[1:][same_text])
        shift = np.uint64(_TERM_BITS)
        keys = np.concatenate([(row_of << shift) | unigrams, (row_of[:-1][same_text] << shift) | bigrams])

        terms, counts = np.unique(keys, return_counts=True)
        term_rows = (terms >> shift).astype(np.int64)
        term_hashes = terms & _TERM_MASK
        weights = 1.0 + np.log(counts)  # sublinear tf: a word said ten times is not ten times the topic
        # Unsigned buckets: with signs, two colliding terms of equal weight cancel
        # exactly, and a short text can lose the one word it shares with a query
        # (seen: "return" in a returns policy scored 0.0). Without signs a collision
        # only adds a little similarity; it never removes a match.
        buckets = ((term_hashes >> np.uint64(1)) % np.uint64(dims)).astype(np.int64)

        flat = np.bincount(term_rows * dims + buckets, weights=weights, minlength=rows * dims)
        matrix: np.ndarray = flat.reshape(rows, dims)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms > 0.0, norms, 1.0)  # a text without words stays the zero vector
        return matrix, len(unigrams)
