"""Logging set-up shared by the commands."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Per-request lines from the HTTP clients and the vendor SDKs are noise; the
    # adapters log what matters (retries, cut inputs) themselves.
    for name in ("httpx", "httpx2", "openai", "pinecone"):
        logging.getLogger(name).setLevel(logging.WARNING)
