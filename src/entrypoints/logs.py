"""Logging set-up shared by the commands."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Per-request lines from the HTTP client used by tests and adapters are noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
