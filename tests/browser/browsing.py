"""Helpers of the browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from server import Server

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
ADMIN_KEY = "dashboard-admin-key-for-tests"


def has_route(server: Server, path: str) -> bool:
    """Whether this build serves ``path`` (file and website sources come from other branches)."""
    paths = httpx.get(f"{server.url}/schema/openapi.json", timeout=10).json()["paths"]
    return path in paths


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("document.getElementById('toast').hidden = true")  # a passing notice hides the page
    page.screenshot(path=str(path), full_page=True)
    return path


def api(server: Server) -> httpx.Client:
    """The server's API as the admin (the key is ignored by a build without API keys)."""
    return httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
