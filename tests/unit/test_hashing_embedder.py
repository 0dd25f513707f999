from __future__ import annotations

import numpy as np
import pytest

from adapters.hashing.embedder import HashingEmbedder, tokenize


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
