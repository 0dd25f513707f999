"""Streaming a multipart upload to the blob store without holding it in memory.

Litestar's own form parsing reads the whole body first; here the raw request stream
goes through ``multipart``'s push parser, and the file part's bytes flow straight to
``SourceService.store_file`` as they arrive. Other fields (``name``, chunking options)
may come before or after the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request
from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from domain.agents import MAX_NAME_LENGTH
from domain.errors import InvalidInput, LimitExceeded
from domain.jobs import MAX_PRIORITY, MIN_PRIORITY
from domain.services.sources import SourceService, StoredFile

FIELD_BYTES = 64 * 1024
# Room for the multipart envelope and the small fields around the file.
ENVELOPE_BYTES = 256 * 1024
MAX_FIELDS = 16


async def _events(stream: AsyncIterator[bytes], parser: PushMultipartParser) -> AsyncIterator[Any]:
    async for chunk in stream:
        if chunk:
            for event in parser.parse(chunk):
                yield event
    for event in parser.parse(b""):
        yield event
    if not parser.closed:
        raise InvalidInput("the upload ended before the multipart body did (was it cut off?)")


async def read_upload(
    request: Request[Any, Any, Any], sources: SourceService, agent_id: Any, max_bytes: int
) -> tuple[StoredFile, dict[str, str]]:
    """The stored file and the form's other fields. On any error the blob is removed."""
    mime, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if mime != "multipart/form-data" or not boundary:
        raise InvalidInput("send the file as multipart/form-data, in a field named 'file'")
    declared = request.content_length
    if declared is not None and declared > max_bytes + ENVELOPE_BYTES:
        # Refused before a byte of the body is read.
        raise LimitExceeded(
            "max_upload_bytes",
            f"the file is larger than the upload limit of {max_bytes / (1024 * 1024):g} MB (MAX_UPLOAD_MB)",
        )
    parser = PushMultipartParser(boundary, max_segment_count=MAX_FIELDS + 1, strict=True)
    events = _events(request.stream(), parser).__aiter__()
    fields: dict[str, str] = {}
    stored: StoredFile | None = None
    try:
        while True:
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
            if not isinstance(event, MultipartSegment):
                continue
            if event.name == "file":
                if stored is not None:
                    raise InvalidInput("send one file per upload")
                stored = await sources.store_file(agent_id, event.filename, _part(events))
            else:
                fields[event.name or ""] = await _field(event, events)
    except MultipartError as exc:
        if stored is not None:
            await sources.discard_file(stored)
        raise InvalidInput(f"the multipart body is malformed ({exc})") from None
    except BaseException:
        if stored is not None:
            await sources.discard_file(stored)
        raise
    if stored is None:
        raise InvalidInput("the upload has no field named 'file'")
    return stored, fields


async def _part(events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """The body of the current part, up to its end marker."""
    while True:
        try:
            event = await events.__anext__()
        except StopAsyncIteration:
            raise InvalidInput("the upload ended in the middle of the file (was it cut off?)") from None
        if event is None:
            return
        yield bytes(event)


async def _field(segment: MultipartSegment, events: AsyncIterator[Any]) -> str:
    data = bytearray()
    async for chunk in _part(events):
        data += chunk
        if len(data) > FIELD_BYTES:
            raise InvalidInput(f"the form field {segment.name!r} is longer than {FIELD_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the form field {segment.name!r} is not UTF-8 text") from None


def convert_fields(fields: dict[str, str], into: type[Any]) -> Any:
    """Form fields (strings) into a request struct; ``metadata`` is JSON text."""
    values: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
    if "metadata" in values:
        try:
            values["metadata"] = msgspec.json.decode(values["metadata"])
        except msgspec.DecodeError:
            raise InvalidInput("the form field 'metadata' must be a JSON object") from None
    try:
        return msgspec.convert(values, into, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid form field: {exc}") from None


def document_upload(schema: Any, path: str) -> None:
    """Describe the multipart body in the OpenAPI document (the handler reads it raw)."""
    from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema
    from litestar.openapi.spec.enums import OpenAPIType

    item = (schema.paths or {}).get(path)
    if item is None or item.post is None:
        return
    form = Schema(
        type=OpenAPIType.OBJECT,
        required=["file"],
        properties={
            "file": Schema(
                type=OpenAPIType.STRING,
                format="binary",  # type: ignore[arg-type]
                description="PDF, DOCX, CSV, JSON, TXT or MD; at most MAX_UPLOAD_MB",
            ),
            "name": Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_NAME_LENGTH),
            "chunkSize": Schema(type=OpenAPIType.INTEGER, minimum=16, maximum=32_000),
            "chunkOverlap": Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=16_000),
            "chunkUnit": Schema(type=OpenAPIType.STRING, enum=["tokens", "characters"]),
            "metadata": Schema(type=OpenAPIType.STRING, description="A JSON object copied onto every chunk"),
            "priority": Schema(type=OpenAPIType.INTEGER, minimum=MIN_PRIORITY, maximum=MAX_PRIORITY),
        },
    )
    item.post.request_body = RequestBody(content={"multipart/form-data": OpenAPIMediaType(schema=form)}, required=True)
