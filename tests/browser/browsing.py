"""Helpers of the browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from server import Server

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def has_route(server: Server, path: str) -> bool:
    """Whether this build serves ``path`` (file and website sources come from other branches)."""
    paths = httpx.get(f"{server.url}/schema/openapi.json", timeout=10).json()["paths"]
    return path in paths


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
