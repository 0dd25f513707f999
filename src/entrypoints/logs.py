"""Logging: structured (structlog), JSON for machines, readable for people.

Every record — Sluice's, uvicorn's, SAQ's — goes through one structlog formatter, which
adds the fields of the job being run (``job_id``, ``source_id``, ``agent_id``,
``attempt``; see ``domain.logcontext``). ``LOG_FORMAT=json`` or ``console``; by default
JSON unless the output is a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from domain import logcontext


def _job_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in logcontext.current().items():
        event.setdefault(key, value)
    return event


def configure_logging(level: str = "INFO", *, fmt: str | None = None) -> None:
    fmt = (fmt or os.environ.get("LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")).lower()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _job_fields,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Per-request lines of HTTP clients are noise; uvicorn's access log says the same.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
