"""The text route's body, read without a str of the whole text: same text, same errors,
same idempotency fingerprint as decoding the whole body into ``TextSourceCreate``."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.exceptions import ValidationException

from entrypoints.api import text_body
from entrypoints.api.schemas import TextSourceCreate
from entrypoints.api.text_body import decode_text_body

_sorted = msgspec.json.Encoder(order="sorted").encode
# Spaces, emoji, quotes, backslashes, control characters and escapes near piece ends.
TEXT = st.text(alphabet=st.sampled_from(list(' a\u00e9\u4e2d\U0001f980"\\/\n\t\x00\x1fxyz')), min_size=1, max_size=80)


def _decode(body: bytes, canonical: bool = True) -> text_body.TextBody:
    return decode_text_body([bytearray(body)], canonical=canonical)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, piece=st.integers(1, 9), ascii_escapes=st.booleans(), name=st.none() | st.just("n"))
def test_text_and_fingerprint_match_the_whole_body_decode(text, piece, ascii_escapes, name) -> None:
    fields = {"text": text, "name": name, "metadata": {"b": 1, "a": [text]}, "chunkSize": 64}
    body = json.dumps(fields, ensure_ascii=ascii_escapes).encode()
    whole = msgspec.json.decode(body, type=TextSourceCreate)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(text_body, "PIECE_BYTES", piece)  # many pieces, split wherever allowed
        got = _decode(body)
    assert got.data == text.encode("utf-8")
    assert got.canonical == _sorted(whole)
    assert (got.fields.name, got.fields.metadata, got.fields.chunk_size) == (name, whole.metadata, 64)


def test_a_large_text_with_an_emoji_comes_out_whole() -> None:
    text = ("Lighthouse keepers log the weather. " * 60_000) + "\U0001f980 end"
    got = _decode(msgspec.json.encode({"text": text}), canonical=False)
    assert got.data == text.encode() and got.canonical is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"txt": "typo"}', "text"),
        (b'{"text": ""}', "text"),
        (b'{"text": 5}', "text"),
        (b'{"text": "a", "chunkSize": "big"}', "chunkSize"),
        (b'{"text": "a\\q"}', None),
        (b'{"text": "\\ud800"}', None),  # a lone surrogate has no UTF-8
        (b'{"text": "\xff"}', None),
        (b"[not json", None),
    ],
)
def test_bad_bodies_are_validation_errors(body: bytes, where: str | None) -> None:
    with pytest.raises(ValidationException) as caught:
        _decode(body)
    extra = caught.value.extra
    assert isinstance(extra, list) and extra[0]["source"] == "body"
    if where is not None:
        assert extra[0].get("key") == where


def test_text_head_holds_the_first_words_whole_or_all_the_text() -> None:
    from domain.sources import default_text_name, text_head

    long = ("w\u00e9rd " * 10_000 + "\U0001f980").encode()
    assert default_text_name(text_head(long)) == default_text_name(long.decode())
    spaced = (" \u3000\n" * 5_000 + "late words here").encode()  # words after 20 KB of spaces
    assert text_head(spaced) == spaced.decode()
    assert text_head("\u3000 \u00a0".encode()).isspace()  # Unicode spaces only: empty text
