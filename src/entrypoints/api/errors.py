"""The one place that turns errors into HTTP responses with the envelope."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from domain.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PermanentError,
    SluiceError,
    TransientError,
)

log = logging.getLogger("sluice.api")

# Limits on the size of what was sent answer 413; limits on a value answer 400.
PAYLOAD_LIMITS = frozenset({"max_text_bytes", "max_upload_bytes", "request_body"})

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    503: "service_unavailable",
}


def status_of(exc: SluiceError) -> int:
    if exc.code == "unsupported_media_type":
        return HTTP_415_UNSUPPORTED_MEDIA_TYPE
    if isinstance(exc, NotFound):
        return HTTP_404_NOT_FOUND
    if isinstance(exc, IllegalTransition | Conflict):
        return HTTP_409_CONFLICT
    if isinstance(exc, LimitExceeded):
        return HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.limit in PAYLOAD_LIMITS else HTTP_400_BAD_REQUEST
    if isinstance(exc, InvalidInput | PermanentError):
        return HTTP_400_BAD_REQUEST
    if isinstance(exc, TransientError):
        return HTTP_503_SERVICE_UNAVAILABLE
    return HTTP_500_INTERNAL_SERVER_ERROR


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return Response({"success": False, "error": error}, status_code=status, media_type=MediaType.JSON, headers=headers)


def sluice_error(_: Request, exc: SluiceError) -> Response:
    status = status_of(exc)
    if status >= 500:
        log.error("request failed: %s", exc.message)
    headers = {"Retry-After": "5"} if status == HTTP_503_SERVICE_UNAVAILABLE else None
    return envelope(status, exc.code, exc.message, headers=headers)


def validation_error(_: Request, exc: ValidationException) -> Response:
    details = exc.extra if isinstance(exc.extra, list) else None
    message = exc.detail or "invalid request"
    if details:
        parts = []
        for item in details[:5]:
            if isinstance(item, dict):
                where = item.get("key") or item.get("source") or ""
                parts.append(f"{where}: {item.get('message', '')}".strip(": "))
        if parts:
            message = "invalid request: " + "; ".join(parts)
    return envelope(HTTP_400_BAD_REQUEST, "invalid_request", message, details)


def http_error(_: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    code = HTTP_CODES.get(status, "error")
    message = exc.detail or code.replace("_", " ")
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = "the request body is larger than this server accepts"
    return envelope(status, code, message, headers=exc.headers)


def unexpected_error(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return envelope(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    SluiceError: sluice_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
