"""The ``Idempotency-Key`` header of source creation, for every endpoint that creates one.

An endpoint declares the header with ``IdempotencyKeyHeader``, turns it and what the
request sends into a claim with ``claim_of`` (fingerprinting what identifies the
request: the JSON body, or a file's digest and form fields), passes the claim to
``SourceService.add_source`` (or ``create_text_source``) and answers with ``created``:
a replay answers as the first request did (201, same source and jobId) and says so in
``Idempotent-Replayed: true``; the same key with another request is a 409.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response
from litestar.params import HeaderParameter

from domain.idempotency import MAX_KEY_LENGTH, IdempotencyClaim, fingerprint

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description=(
            "Makes the creation safe to retry: repeated with the same body it answers with the same "
            "source and jobId and creates nothing; with another body it is refused (409). "
            "Remembered for IDEMPOTENCY_TTL_HOURS."
        ),
    ),
]

_encode = msgspec.json.Encoder(order="sorted").encode


def claim_of(key: str | None, kind: str, *parts: bytes | str | msgspec.Struct) -> IdempotencyClaim | None:
    """The request's claim (None without the header). ``kind`` names the endpoint, so one
    key sent to two endpoints is two different requests."""
    if key is None:
        return None
    encoded = [_encode(part) if isinstance(part, msgspec.Struct) else part for part in parts]
    return IdempotencyClaim(key=key, request_hash=fingerprint(kind, *encoded))


def created(body: Any, claim: IdempotencyClaim | None) -> Response[Any]:
    headers = {REPLAYED_HEADER: "true"} if claim is not None and claim.replayed else None
    return Response(body, status_code=201, headers=headers)
