"""A deterministic lexical embedder: feature hashing of words and word pairs.

It needs no model download and no network, so it is the embedded default until a
semantic model is wired in, and the embedder of the fast tests. Texts that share
words point in similar directions under cosine similarity; it knows nothing of
synonyms or meaning.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from adapters.local.threaded_embedder import ThreadedEmbedder
from ports.embed import Embeddings

_WORD = re.compile(r"\w+")

# A term is identified by a 44-bit hash so that (row, term) packs into one uint64 key:
# counting terms of a whole batch is then one sort instead of a Python loop per text.
# Two distinct words of one text colliding in 44 bits is ~1e-8 likely and would only
# merge their counts; the result stays deterministic.
_TERM_BITS = 44
_TERM_MASK = np.uint64((1 << _TERM_BITS) - 1)
# Texts per numpy pass: bounds the transient (rows x dimensions) float64 buffer, and
# stays far below the 2**20 rows the key packing allows.
_ROWS_PER_PASS = 4096

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
        # word -> 44-bit hash. Replaced (never cleared in place) when full, so a
        # thread still reading the old dict is never surprised by a missing key.
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
        vectors: list[list[float]] = []
        words = 0
        for start in range(0, len(texts), _ROWS_PER_PASS):
            part = texts[start : start + _ROWS_PER_PASS]
            matrix, count = self._embed_matrix([tokenize(t) for t in part])
            vectors.extend(matrix.tolist())
            words += count
        return Embeddings(vectors=vectors, tokens=words)

    def _hashes(self, words: list[str]) -> np.ndarray:
        memo = self._memo
        missing = set(words).difference(memo)
        if missing:
            if len(memo) + len(missing) > self._memo_size:
                memo = {}
                self._memo = memo
                missing = set(words)
            for word in missing:
                memo[word] = _word_hash(word)
        return np.fromiter(map(memo.__getitem__, words), dtype=np.uint64, count=len(words))

    def _embed_matrix(self, token_lists: list[list[str]]) -> tuple[np.ndarray, int]:
        rows = len(token_lists)
        dims = self._dimensions
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=rows)
        words = [w for tokens in token_lists for w in tokens]
        if not words:
            return np.zeros((rows, dims), dtype=np.float32), 0

        unigrams = self._hashes(words)
        row_of = np.repeat(np.arange(rows, dtype=np.uint64), lengths)
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
        return matrix, len(words)
