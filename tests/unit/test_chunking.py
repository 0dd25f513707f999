import itertools
import os
import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.tiktoken import TiktokenMeasure
from adapters.tiktoken.measure import encoding
from domain.chunking import CharacterMeasure, Chunk, Chunker, chunk_text
from domain.errors import InvalidInput
from domain.text_boundaries import Level, aligned, cut, whitespace_aligned

# CHUNK_EXAMPLES=20000 for a long hunt; 300 keeps the suite quick.
EXAMPLES = settings(
    max_examples=int(os.environ.get("CHUNK_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

FEWER = settings(EXAMPLES, max_examples=max(1, EXAMPLES.max_examples // 3))

TOKENS = TiktokenMeasure()
CHARACTERS = CharacterMeasure()


class Unproven(TiktokenMeasure):
    """Tokens without the additivity promise: every chunk is measured for real."""

    def additive_at_whitespace(self, text: str) -> bool:
        return False


# fmt: off
FRAGMENTS = [
    "word", "Hello", "the", "quick", " ", "  ", "\t", "\n", "\n\n", "\n \n", "\r\n", "\r", "\r\n\r\n",
    ". ", "! ", "? ", ".", ",", "…", "\"", "'s", "(", ")", "。", "\uff01",
    "中文字符和句子", "日本語の文章です",
    "👍", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇩🇪", "👍🏽", "e\u0301", "a\u0301\u0302\u0303\u0304",
    "مرحبا بالعالم", "שָׁלוֹם", "\u200f", "\u200d", "\ufe0f", "<|endoftext|>", "<|fim_prefix|>",
    "x" * 300, "ab" * 120, "-" * 80, "=" * 40, "\u3000", "\xa0", "\x0b", "\x0c", "\x85", "\u2028",
    "\x1c", "1234567890", "3.14", "supercalifragilisticexpialidocious", "https://example.com/a/b?c=d",
]
# fmt: on
odd_texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=80).map("".join)
words = st.sampled_from(["the", "borrow", "checker", "can't", "Vec<T>", "42", "x", "über", "naïve", "日本"])
sentences = st.builds(
    lambda ws, end: " ".join(ws) + end,
    st.lists(words, min_size=1, max_size=14),
    st.sampled_from([".", "!", "?", ":", "", ".)"]),
)
lines = st.builds(
    lambda indent, ss: indent + " ".join(ss),
    st.sampled_from(["", "", "    ", "\t", "- "]),
    st.lists(sentences, min_size=1, max_size=4),
)
paragraphs = st.lists(lines, min_size=1, max_size=5).map("\n".join)
prose = st.builds(
    lambda ps, sep: sep.join(ps),
    st.lists(paragraphs, min_size=1, max_size=12),
    st.sampled_from(["\n\n", "\r\n\r\n", "\n \n  ", "\n\n\n"]),
)
texts = st.one_of(odd_texts, prose, st.builds(str.__add__, prose, odd_texts))


@st.composite
def options(draw: st.DrawFn, min_size: int, max_size: int) -> tuple[int, int]:
    size = draw(st.integers(min_size, max_size))
    return size, draw(st.integers(0, size - 1))


def check(text: str, chunks: Sequence[Chunk], size: int, measure) -> None:
    if not text.strip():
        assert chunks == []
        return
    assert chunks
    for i, c in enumerate(chunks):
        assert c.index == i
        assert text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert measure.count(c.text) <= size
        assert c.char_count == len(c.text)
        assert c.word_count == len(c.text.split())
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start
        assert before.end <= after.end
    covered = 0  # every non-whitespace character lies in some chunk
    for c in chunks:
        assert text[covered : c.start].strip() == ""
        covered = max(covered, c.end)
    assert text[covered:].strip() == ""


@EXAMPLES
@given(texts, options(1, 120))
@example("a" * 50, (1, 0))
@example("👨‍👩‍👧‍👦 e\u0301\u0302" * 5, (3, 2))
def test_character_chunks_keep_every_promise(text, opts):
    size, overlap = opts
    chunks = chunk_text(text, size=size, overlap=overlap, measure=CHARACTERS)
    check(text, chunks, size, CHARACTERS)
    for before, after in itertools.pairwise(chunks):
        assert len(text[after.start : before.end].strip()) <= overlap


@pytest.mark.parametrize("measure", [TOKENS, Unproven()], ids=["tokens", "tokens-unproven"])
@EXAMPLES
@given(text=texts, opts=options(16, 96))
@example(text="😀" * 200, opts=(16, 15))
@example(text="\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1" * 30, opts=(16, 8))
@example(text="a" * 5000, opts=(16, 0))
@example(text=". <|endoftext|>0:\x810:Ò𐀀\U00015340", opts=(22, 0))  # fits only untrimmed
@example(text="x\r" * 300 + "y\r\n" * 200, opts=(16, 4))
def test_token_chunks_keep_every_promise(measure, text, opts):
    size, overlap = opts
    chunks = chunk_text(text, size=size, overlap=overlap, measure=measure)
    check(text, chunks, size, TOKENS)
    for c in chunks:
        assert len(encoding().encode(c.text, disallowed_special=())) <= size


@EXAMPLES
@given(texts, options(16, 64))
def test_chunking_is_deterministic(text, opts):
    size, overlap = opts
    first = chunk_text(text, size=size, overlap=overlap, measure=TOKENS)
    assert chunk_text(text, size=size, overlap=overlap, measure=TiktokenMeasure()) == first


@EXAMPLES
@given(texts, st.data())
def test_token_counts_add_up_across_whitespace_aligned_boundaries(text, data):
    # The promise the chunker trusts to skip measuring chunks again (additive_at_whitespace).
    text = "a " + re.sub("[\x1c-\x1f]", "", text) + " z"  # some boundary, something to cut around
    assert TOKENS.additive_at_whitespace(text)
    levels = [Level.PARAGRAPH, Level.LINE, Level.SENTENCE, Level.WORD]
    points = sorted({p for lv in levels for p in cut(text, 0, len(text), lv, 1) if aligned(text, lv, p)})
    p = data.draw(st.sampled_from(points))
    start = data.draw(st.integers(0, p - 1))
    after = p + len(text[p:]) - len(text[p:].lstrip())  # the right side must not be blank
    end = data.draw(st.integers(after + 1, len(text)))
    assert TOKENS.count(text[start:end]) == TOKENS.count(text[start:p]) + TOKENS.count(text[p:end])


@pytest.mark.parametrize("blank", ["", " ", "\n\n\r\n", "\t \u3000 \xa0"])
def test_blank_text_gives_no_chunks(blank):
    assert chunk_text(blank, size=16, overlap=4, measure=TOKENS) == []


def test_prose_is_cut_at_paragraphs_and_overlaps_at_sentences():
    paragraph = "Rust has no garbage collector. Ownership decides when memory is freed. " * 6
    text = "\n\n".join([paragraph.strip()] * 4)
    chunks = chunk_text(text, size=100, overlap=20, measure=TOKENS)
    assert chunks[0].text == paragraph.strip()
    assert all(TOKENS.count(c.text) <= 100 for c in chunks)
    second = chunks[1]
    assert second.start < chunks[0].end  # it overlaps the first chunk...
    assert second.text.startswith("Ownership decides")  # ...from a sentence boundary


def test_special_token_text_is_counted_as_plain_text():
    assert TOKENS.count("<|endoftext|>") == len(encoding().encode_ordinary("<|endoftext|>")) > 1


def test_count_many_matches_count_in_the_parallel_path():
    many = [f"Paragraph {i}: " + "some words here " * (i % 40) for i in range(2000)]
    assert TOKENS.count_many(many) == [TOKENS.count(t) for t in many]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-3, 0), (10, 10), (10, -1), (10, 11), (True, 0)])
def test_invalid_options_are_refused(size, overlap):
    with pytest.raises(InvalidInput):
        Chunker(CHARACTERS, size=size, overlap=overlap)


def test_size_too_small_for_a_character_is_refused():
    with pytest.raises(InvalidInput):
        chunk_text("\U0001d518", size=2, overlap=0, measure=TOKENS)  # one code point, 3+ tokens


class Piecewise(TiktokenMeasure):
    """Tokens measured piece by piece, never from one pass over the whole text."""

    def prefix_sizes(self, text: str):
        return None


@FEWER
@given(texts)
def test_prefix_sizes_match_counting_each_prefix(text):
    # The one-pass sizes the splitter subtracts must be the real counts at every
    # whitespace-aligned position, and -1 (unknown) is the only other answer.
    text = re.sub("[\x1c-\x1f]", "", text)
    prefixes = TOKENS.prefix_sizes(text)
    if prefixes is None:  # lone surrogates
        return
    points = sorted({0, len(text)} | {p for p in range(1, len(text)) if whitespace_aligned(text, p)})
    points = [*points[:: max(1, len(points) // 30)], len(text)]  # a sample: each check encodes a prefix
    sizes = prefixes.at(points)
    for p, size in zip(points, sizes, strict=True):
        assert size == -1 or size == TOKENS.count(text[:p]), p
    assert sizes[-1] == TOKENS.count(text)


@FEWER
@given(text=texts, opts=options(16, 96))
def test_one_pass_sizes_give_the_same_chunks_as_measuring_pieces(text, opts):
    size, overlap = opts
    assert chunk_text(text, size=size, overlap=overlap, measure=TOKENS) == chunk_text(
        text, size=size, overlap=overlap, measure=Piecewise()
    )
