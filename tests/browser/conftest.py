"""Real headless Chromium (Debian's ``chromium``) driven by Playwright against a real
``sluice serve`` process. Skipped where Chromium is absent; a failure under
``SLUICE_REQUIRE_SERVICES=1`` (CI installs it, see ``.ci/run``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))

from browsing import ADMIN_KEY
from server import Server

import services

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.slow


# Module scope, not session: Playwright's sync API runs an event loop in this thread
# while it is open, and the async tests that run after this folder need the thread free.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        services.need("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in the dev group
        services.need("playwright", "the playwright package is not installed (uv sync)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The crawl test serves its site on 127.0.0.1, which the crawler refuses by default.
    # With API keys on (where the build has them): the page must send the key everywhere.
    env = {"CRAWL_ALLOW_PRIVATE_NETWORKS": "1", "CRAWL_ALLOWED_PORTS": "*", "SLUICE_ADMIN_API_KEY": ADMIN_KEY}
    server = Server(tmp_path_factory.mktemp("dashboard") / "data", env=env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any, dashboard_server: Server) -> Iterator[Any]:
    """A page whose browser already holds the admin key (as after the key prompt)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=dashboard_server.url)
    context.add_init_script(f"localStorage.setItem('sluice.apiKey', {ADMIN_KEY!r})")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of delete buttons
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"
