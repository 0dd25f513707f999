from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hashing.embedder import HashingEmbedder, tokenize
from adapters.hashing.words import WORD, scan


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_shared_words_rank_above_unrelated_text() -> None:
    embedder = HashingEmbedder()
    query = await embedder.embed_query("how to bake sourdough bread")
    docs = await embedder.embed_documents(
        [
            "The quarterly report shows revenue growth in the European market.",
            "Sourdough bread needs a starter; bake it in a hot oven.",
            "Install the package with pip and run the test suite.",
        ]
    )
    scores = [cosine(query, v) for v in docs.vectors]
    # Unrelated texts score above zero only through bucket collisions (384 buckets).
    assert scores[1] > max(scores[0], scores[2]) + 0.1


async def test_vectors_are_unit_length_and_empty_text_is_zero() -> None:
    result = await HashingEmbedder(dimensions=64).embed_documents(["some words", ""])
    assert np.linalg.norm(result.vectors[0]) == pytest.approx(1.0)
    assert not np.any(result.vectors[1])
    assert len(result.vectors[0]) == 64


async def test_stable_across_instances_and_memo_resets() -> None:
    text = "stable hashing never uses the salted built-in hash"
    first = await HashingEmbedder().embed_query(text)
    tiny_memo = HashingEmbedder(memo_size=3)
    await tiny_memo.embed_documents(["fill the memo with many other words please"])
    assert np.allclose(first, await tiny_memo.embed_query(text))


async def test_model_names_the_dimensions_and_tokens_count_words() -> None:
    embedder = HashingEmbedder(dimensions=128)
    assert embedder.model == "sluice-hashing-v2-128"
    assert (await embedder.embed_documents(["one two three", "four"])).tokens == 4


def test_tokenize_is_unicode_aware_and_folds_case_and_forms() -> None:
    assert tokenize("Straße, CAFÉ and cafe\u0301!") == ["straße", "café", "café"]
    assert tokenize("\ufb01le \uff46\uff55\uff4c\uff4c") == ["file", "full"]  # ligature, full-width


def test_stopwords_are_dropped_unless_nothing_else_is_left() -> None:
    assert tokenize("How do I return it?") == ["return"]
    assert tokenize("to be or not to be") == ["to", "be", "or", "not", "to", "be"]


async def test_a_shared_word_always_counts() -> None:
    embedder = HashingEmbedder()
    doc, query = (
        await embedder.embed_documents(
            [
                "Customers may return any item within 30 days of delivery for a full refund.",
                "how long do I have to return something?",
            ]
        )
    ).vectors
    assert cosine(doc, query) > 0.1


async def test_word_order_matters_through_bigrams() -> None:
    embedder = HashingEmbedder()
    a, b, c = (await embedder.embed_documents(["dog bites man", "man bites dog", "dog bites man"])).vectors
    assert cosine(a, c) == pytest.approx(1.0)
    assert cosine(a, b) < 0.9


# Word and non-word characters, combining marks, case folds that change length, NFKC forms,
# astral characters, a ZWJ and the separator the scanner joins texts with.
_ALPHABET = st.sampled_from(
    [*"ab _-.\n\t\x00'", "\u00e9", "e\u0301", "\u0130", "\u01c5", "\ufb01", "\uff41", "\u65e5", "\U0001f600", "\u200d"]
)
_TEXTS = st.lists(_ALPHABET, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXTS | st.text(max_size=20), max_size=8))
def test_the_batch_scanner_finds_exactly_the_words_findall_finds(texts: list[str]) -> None:
    scanned = scan(texts)
    found: list[list[str]] = [[] for _ in texts]
    for i, row in enumerate(scanned.text_of.tolist()):
        found[row].append(scanned.word(i))
    assert found == [WORD.findall(unicodedata.normalize("NFKC", t).lower()) for t in texts]
    # Equal words have equal fingerprints, different words different ones.
    prints = {(int(a), int(b)) for a, b in zip(scanned.key1, scanned.key2, strict=True)}
    assert len(prints) == len({w for words in found for w in words})


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, max_size=6))
def test_batches_embed_each_text_as_it_would_be_embedded_alone(texts: list[str]) -> None:
    embedder = HashingEmbedder(dimensions=32)
    together = embedder.embed_sync(texts)
    alone = [embedder.embed_sync([t]) for t in texts]
    assert together.tokens == sum(a.tokens for a in alone)
    for vector, single in zip(together.vectors, alone, strict=True):
        assert np.allclose(vector, single.vectors[0])
    # A text has a vector exactly when tokenize finds words in it.
    for text, vector in zip(texts, together.vectors, strict=True):
        assert bool(tokenize(text)) == bool(np.any(vector))


async def test_a_fingerprint_half_matching_another_word_falls_back_to_the_exact_words() -> None:
    embedder = HashingEmbedder()
    texts = ["sourdough bread needs a starter", "the oven must be hot"]
    expected = embedder.embed_sync(texts)
    # Pretend "sourdough" shares the first half of its fingerprint with another word.
    scanned = scan(["sourdough"])
    embedder._keyed[int(scanned.key1[0])] = (int(scanned.key2[0]) ^ 1, 12345)
    again = embedder.embed_sync(texts)
    assert again.tokens == expected.tokens
    assert np.allclose(again.vectors, expected.vectors)
