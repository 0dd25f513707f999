"""Translating Sluice's ids and metadata to what Pinecone accepts, and back, losslessly.

Ids and namespaces: Pinecone takes ASCII only (no NUL, at most 512 characters). Sluice's
own (``{source_id}#{chunk_index}``, ``agent-{uuid}``) pass unchanged; any other
character, and ``%`` itself, is percent-encoded as UTF-8. The encoding works character
by character, so a prefix of an id encodes to a prefix of the encoded id and listing by
prefix still works.

Metadata: Pinecone stores strings, numbers (as doubles), booleans and lists of strings;
it drops ``null`` and refuses nested objects. What it can hold is stored as is (so it can
be filtered on and read in Pinecone's console); the rest (``null``, objects, lists of
other things, integers beyond 2**53) goes, JSON-encoded, into one reserved string field
``_sluice``, together with the names of the integer fields (Pinecone answers ``3.0``
for ``3``). Decoding restores the caller's exact metadata.

Pinecone allows 40 KB of metadata per record. A record over it has its ``text`` cut
(at a character boundary) until it fits, and gets ``text_truncated: true``; the vector
itself is computed from the whole chunk. A record still over without any ``text`` is
refused. (Sluice's chunks are far smaller: 8,191 tokens are at most ~35 KB of text.)
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote

from ports.vectors import VectorIndexError

RESERVED = "_sluice"
MAX_ID_CHARS = 512
# 40 KB is 40,960 bytes; keep a margin for the service's own accounting.
MAX_METADATA_BYTES = 40_000
_MAX_EXACT_INT = 2**53


def encode_id(value: str, *, what: str = "vector id") -> str:
    if value.isascii() and "%" not in value and "\x00" not in value:
        encoded = value
    else:
        encoded = "".join(
            ch
            if ch.isascii() and ch not in "%\x00"
            else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
            for ch in value
        )
    if len(encoded) > MAX_ID_CHARS:
        raise VectorIndexError(f"{what} {value[:60]!r}... is longer than Pinecone's {MAX_ID_CHARS} characters")
    return encoded


def decode_id(value: str) -> str:
    return unquote(value, errors="surrogatepass") if "%" in value else value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _size(metadata: dict[str, Any]) -> int:
    return len(_dumps(metadata).encode("utf-8", "surrogatepass"))


def encode_metadata(vid: str, metadata: dict[str, Any]) -> dict[str, Any]:
    native: dict[str, Any] = {}
    spilled: dict[str, Any] = {}
    ints: list[str] = []
    for key, value in metadata.items():
        if key == RESERVED or key.startswith("$"):
            spilled[key] = value
        elif isinstance(value, bool | str):
            native[key] = value
        elif isinstance(value, int):
            if abs(value) <= _MAX_EXACT_INT:
                native[key] = value
                ints.append(key)
            else:
                spilled[key] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise VectorIndexError(f"metadata {key!r} of vector {vid!r} is not a finite number")
            native[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            native[key] = list(value)
        else:
            spilled[key] = value
    if spilled or ints:
        try:
            native[RESERVED] = _dumps({"i": ints, "j": spilled})
        except (TypeError, ValueError) as exc:
            raise VectorIndexError(f"metadata of vector {vid!r} is not JSON-serialisable: {exc}") from exc
    return _fit(vid, native)


def _fit(vid: str, native: dict[str, Any]) -> dict[str, Any]:
    try:
        size = _size(native)
    except (TypeError, ValueError) as exc:
        raise VectorIndexError(f"metadata of vector {vid!r} is not JSON-serialisable: {exc}") from exc
    if size <= MAX_METADATA_BYTES:
        return native
    text = native.get("text")
    if not isinstance(text, str):
        raise VectorIndexError(f"metadata of vector {vid!r} is {size} bytes; Pinecone allows 40 KB per record")
    trimmed = {**native, "text": "", "text_truncated": True}
    if _size(trimmed) > MAX_METADATA_BYTES:
        raise VectorIndexError(f"metadata of vector {vid!r} is over Pinecone's 40 KB per record even without its text")
    # The longest prefix of the text that fits: binary search on characters.
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size({**trimmed, "text": text[:mid]}) <= MAX_METADATA_BYTES:
            lo = mid
        else:
            hi = mid - 1
    trimmed["text"] = text[:lo]
    return trimmed


def decode_metadata(stored: dict[str, Any] | None) -> dict[str, Any]:
    metadata = dict(stored or {})
    extra = metadata.pop(RESERVED, None)
    if not isinstance(extra, str):
        return metadata
    try:
        decoded = json.loads(extra)
    except ValueError:
        return metadata
    for key in decoded.get("i", []):
        value = metadata.get(key)
        if isinstance(value, float) and value.is_integer():
            metadata[key] = int(value)
    metadata.update(decoded.get("j", {}))
    return metadata
