"""Fields every log line of a running job should carry (job_id, source_id, ...).

Plain ``contextvars``: the domain stays free of logging frameworks; the entrypoints'
log set-up (structlog) reads ``current()`` and adds the fields to each record.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("sluice_log_fields", default=None)


def current() -> dict[str, Any]:
    return _fields.get() or {}


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = _fields.set({**current(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)
