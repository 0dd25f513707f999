"""The body of ``POST .../sources/text`` read without a ``str`` of the whole text.

Decoded whole, a pasted text costs the API many times its size: the body bytes (joined
from the received chunks, and kept by Litestar for the whole request), the decoded
``str`` (4 bytes a character as soon as the text holds one emoji: 60 MB for a 15 MB
text, and CPython widens it through a 2-byte copy while decoding), then its UTF-8
encoding (CPython reserves 4 bytes a character for that too). Here the body is read into
one buffer, msgspec decodes the fields with the text left as ``msgspec.Raw`` (a view of
the buffer), and the text goes from JSON to UTF-8 one piece of about 256 KB at a
time; the buffer is dropped as soon as the text is out of it. What the handler gets is
the other fields and the text's UTF-8 bytes.

The idempotency fingerprint is the one the whole-struct encoding gave
(``msgspec.json.Encoder(order="sorted")``): JSON escaping is per character, so the
escaped text is the concatenation of its escaped pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema

from entrypoints.api.schemas import TextSourceCreate, TextSourceFields, TextSourceUpload

PIECE_BYTES = 1 << 18
# A space or a UTF-8 lead byte starts a character and can't be inside an escape
# sequence (escapes are ASCII and never hold a space): a piece may end before one.
_SAFE_SPLIT = re.compile(rb"[ \xc0-\xff]")
_WHERE = re.compile(r"at `\$\.(\w+)|field `(\w+)`")
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_decode_upload = msgspec.json.Decoder(TextSourceUpload).decode
_decode_str = msgspec.json.Decoder(str).decode


# The body's JSON schema, as the route documented it when Litestar decoded the body.
_SCHEMA = msgspec.json.schema_components([TextSourceCreate], ref_template="#/components/schemas/{name}")[1][
    "TextSourceCreate"
]


@dataclass
class TextSourceOperation(Operation):
    """The OpenAPI operation of the text route, with its JSON body documented."""

    def __post_init__(self) -> None:
        if self.request_body is None:
            media = OpenAPIMediaType(schema=cast(Schema, cast(Any, _SCHEMA)))
            self.request_body = RequestBody(content={"application/json": media}, required=True)


@dataclass(slots=True)
class TextBody:
    fields: TextSourceCreate  # every field but the text (``text`` is "")
    data: bytes  # the text, UTF-8
    canonical: bytes | None  # the body as ``claim_of`` encoded it, when asked for


def _invalid(message: str, key: str | None = None) -> ValidationException:
    item = {"message": message, "source": "body"}
    if key is not None:
        item["key"] = key
    return ValidationException(detail="invalid request body", extra=[item])


async def read_text_body(request: Request, *, canonical: bool = False) -> TextBody:
    """The request's fields and text; ``canonical`` also builds its fingerprint encoding."""
    # Sized once from Content-Length when it is within the body limit (a larger one is
    # refused by the stream before anything is read); else grown as chunks come.
    size = request.headers.get("content-length") or ""
    limit = request.route_handler.resolve_request_max_body_size()
    announced = int(size) if size.isdigit() else 0
    buffer = bytearray(announced if limit is not None and announced <= limit else 0)
    filled = 0
    async for chunk in request.stream():  # Litestar checks MAX_REQUEST_BODY_MB here
        end = filled + len(chunk)
        buffer[filled:end] = chunk
        filled = end
    del buffer[filled:]
    holder = [buffer]
    del buffer  # decode_text_body frees it as soon as the text is out of it
    return decode_text_body(holder, canonical=canonical)


def decode_text_body(holder: list[bytearray], *, canonical: bool = False) -> TextBody:
    """``read_text_body`` on a received body, which it takes out of ``holder``."""
    buffer = holder.pop()
    try:
        upload = _decode_upload(buffer)
    except msgspec.ValidationError as exc:
        where = _WHERE.search(str(exc))
        raise _invalid(str(exc), (where.group(1) or where.group(2)) if where else None) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _invalid(f"not valid JSON: {exc}") from None
    fields = TextSourceCreate(text="", **{name: getattr(upload, name) for name in TextSourceFields.__struct_fields__})
    with memoryview(upload.text) as raw:  # the JSON string token, quotes included
        utf8, size, escaped = _utf8_of_json_string(raw, keep_escaped=canonical)
    del upload, buffer  # the body goes before the text is copied out of its buffer
    with memoryview(utf8) as view:
        data = bytes(view[:size])
    del utf8
    if not data:
        raise _invalid("Expected `str` of length >= 1", "text")
    encoded = None
    if escaped is not None:
        empty = _encode_sorted(fields)
        head, tail = empty[: -len(b'"}')], b'"}'
        if not head.endswith(b'"text":"'):  # pragma: no cover - a field sorted after "text"
            raise RuntimeError("the text is no longer the last field of TextSourceCreate")
        encoded = b"".join([head, *escaped, tail])
    return TextBody(fields=fields, data=data, canonical=encoded)


def _utf8_of_json_string(raw: memoryview, *, keep_escaped: bool) -> tuple[bytearray, int, list[bytes] | None]:
    """UTF-8 of the JSON string token ``raw`` (in a buffer, and its length), decoded a
    piece at a time (and its pieces as ``msgspec`` escapes them, with ``keep_escaped``)."""
    if len(raw) < 2 or raw[0] != 0x22 or raw[-1] != 0x22:
        raise _invalid("Expected `str`", "text")
    # Unescaping never lengthens: the token's size is room enough, allocated once.
    out = bytearray(len(raw))
    size = 0
    escaped: list[bytes] | None = [] if keep_escaped else None
    start, end = 1, len(raw) - 1
    while start < end:
        split = _SAFE_SPLIT.search(raw, start + PIECE_BYTES, end) if start + PIECE_BYTES < end else None
        stop = split.start() if split is not None else end
        try:
            piece = _decode_str(b'"' + raw[start:stop] + b'"')
            utf8 = piece.encode("utf-8")
            out[size : size + len(utf8)] = utf8
            size += len(utf8)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeError) as exc:
            raise _invalid(f"not a valid JSON string: {exc}", "text") from None
        if escaped is not None:
            escaped.append(_encode_sorted(piece)[1:-1])
        start = stop
    return out, size, escaped
