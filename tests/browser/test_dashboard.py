"""The dashboard as a person uses it: forms, live progress bars, search, job pages.

Every step goes through the page (clicks and typing); the API is only read to check
what the page claims. Each test saves the screenshots the README shows.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from browsing import ADMIN_KEY, api, has_route, shot
from playwright.sync_api import expect
from server import Server

import documents

RETURNS = (
    "Customers may return any item within 30 days of delivery for a full refund. "
    "Refunds are paid to the original card within five business days."
)
LAMPS = "Our lighthouse-shaped desk lamps ship from Oslo and carry a two-year warranty on the bulb and the base."


def create_agent(page: Any, name: str) -> str:
    page.goto("/")
    page.fill("#agent-form input[name=name]", name)
    page.click("#agent-form button[type=submit]")
    page.wait_for_url(re.compile(r"#/agents/[0-9a-f-]{36}$"))
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("#live")).to_have_text("live")  # the agent's event stream is open
    return page.url.rsplit("/", 1)[-1]


def add_text(page: Any, name: str, text: str) -> None:
    page.click("[data-tab=text]")
    page.fill("#text-form input[name=name]", name)
    page.fill("#text-form textarea[name=text]", text)
    page.click("#text-form button[type=submit]")


def job_row(page: Any, source_name: str) -> Any:
    return page.locator(f"#jobs tr[data-source='{source_name}']")


def test_text_sources_complete_live_and_search_shows_the_best_chunk(page: Any, dashboard_server: Server) -> None:
    agent_id = create_agent(page, "Support handbook")
    add_text(page, "returns policy", RETURNS)
    add_text(page, "desk lamps", LAMPS)

    for name in ("returns policy", "desk lamps"):
        row = job_row(page, name)
        expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
        expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
        expect(row.locator(".pct")).to_have_text("100%")
    expect(page.locator("#sources tr[data-source]")).to_have_count(2)

    page.fill("#search-form input[name=query]", "how long do I have to return something for a refund?")
    page.click("#search-form button[type=submit]")
    hits = page.locator("#hits li.hit")
    expect(hits).to_have_count(2)
    expect(hits.first.locator(".hit-source")).to_have_text("returns policy")
    expect(hits.first).to_contain_text("within 30 days of delivery")
    scores = [float(s) for s in hits.locator(".score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1], scores

    # What the page shows is what the API holds.
    with api(dashboard_server) as client:
        jobs = client.get(f"/api/agents/{agent_id}/jobs").json()["data"]
    assert sorted(j["status"] for j in jobs) == ["completed", "completed"]
    shot(page, "agent")

    # The job page: its facts and the timeline of its events.
    job_row(page, "returns policy").locator("a", has_text="details").click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    timeline = page.locator("#timeline li")
    expect(timeline.first).to_contain_text("queued")
    expect(timeline.last).to_contain_text("completed")
    expect(page.locator("#job-card")).to_contain_text("process_text")
    shot(page, "job")

    page.goto("/")
    expect(page.locator(f"tr[data-agent='{agent_id}']")).to_contain_text("Support handbook")
    shot(page, "agents")

    # Deleting a source from its row (the confirm() is accepted): gone from the page and the API.
    page.locator(f"tr[data-agent='{agent_id}'] a").click()
    lamps = page.locator("#sources tr[data-source]", has_text="desk lamps")
    lamps.locator("button[data-action=delete-source]").click()
    expect(lamps).to_have_count(0)
    expect(page.locator("#sources tr[data-source]")).to_have_count(1)
    with api(dashboard_server) as client:
        names = [s["name"] for s in client.get(f"/api/agents/{agent_id}/sources").json()["data"]]
    assert names == ["returns policy"]


def handbook(pages: int) -> list[list[str]]:
    """Readable pages (they end up in the README's screenshot), 15 lines each."""
    lines = [
        "Berth {n} takes vessels up to {m} metres; pilots board at buoy {n}.",
        "Tugs for berth {n} are booked two hours ahead through the harbour office.",
        "Cranes on quay {n} lift up to {t} tonnes in winds below 20 knots.",
        "Reefer containers on quay {n} are plugged in within thirty minutes of landing.",
        "Fresh water is supplied at berth {n} from six in the morning to ten at night.",
    ]
    return [
        [line.format(n=n, m=80 + 10 * n, t=30 + n) for _ in range(3) for line in lines] for n in range(1, pages + 1)
    ]


PAGE_SEVEN = "The harbour master signs every cargo manifest with green ink before noon."


def test_a_pdf_upload_shows_its_bar_reach_100_and_its_pages_in_search(
    page: Any, dashboard_server: Server, tmp_path: Any
) -> None:
    if not has_route(dashboard_server, "/api/agents/{agent_id}/sources/file"):
        pytest.skip("this build has no file uploads yet (POST /api/agents/{agentId}/sources/file)")
    pages = handbook(20)
    pages[6] = [PAGE_SEVEN, *pages[6][1:]]
    pdf = tmp_path / "port-handbook.pdf"
    pdf.write_bytes(documents.pdf(pages))

    create_agent(page, "Port authority")
    page.click("[data-tab=file]")
    page.set_input_files("#file-form input[name=file]", str(pdf))
    page.click("#file-form button[type=submit]")

    row = job_row(page, "port-handbook.pdf")
    expect(row).to_have_count(1, timeout=10_000)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.append(int(row.locator("[role=progressbar]").get_attribute("aria-valuenow") or 0))
        if seen[-1] == 100:
            break
        page.wait_for_timeout(50)
    assert seen[-1] == 100, f"the bar stopped at {seen[-1]}%"
    expect(row).to_have_attribute("data-status", "completed")
    assert seen == sorted(seen), f"the bar went backwards: {seen}"

    page.fill("#search-form input[name=query]", PAGE_SEVEN)
    page.select_option("#search-form select[name=topK]", "3")
    page.click("#search-form button[type=submit]")
    first = page.locator("#hits li.hit").first
    expect(first.locator(".hit-page")).to_have_text(re.compile(r"^pages? (\d+\u2013)?7(\u2013\d+)?$"))
    expect(first.locator(".hit-source")).to_have_text("port-handbook.pdf")
    shot(page, "upload")


class SlowSite:
    """A site on 127.0.0.1 with many linked pages, each answered after a pause, so a
    crawl of it is still running when the test cancels it."""

    def __init__(self, delay: float = 0.4) -> None:
        delay_s = delay

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith("/p/"):
                    self.send_error(404)
                    return
                time.sleep(delay_s)
                n = int(self.path.removeprefix("/p/") or 0)
                links = "".join(f'<a href="/p/{n * 3 + k}">page {n * 3 + k}</a> ' for k in (1, 2, 3))
                body = (
                    f"<html><head><title>Page {n}</title></head><body><main><h1>Page {n}</h1>"
                    f"<p>Ferry timetable number {n}: boats leave every {n % 50 + 10} minutes.</p>{links}"
                    "</main></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/p/0"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SlowSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_site() -> Iterator[SlowSite]:
    with SlowSite() as site:
        yield site


def test_a_running_crawl_is_cancelled_from_its_row(page: Any, dashboard_server: Server, slow_site: SlowSite) -> None:
    if not has_route(dashboard_server, "/api/agents/{agent_id}/sources/website"):
        pytest.skip("this build has no website sources yet (POST /api/agents/{agentId}/sources/website)")
    agent_id = create_agent(page, "Ferry company")
    page.click("[data-tab=website]")
    page.fill("#website-form input[name=url]", slow_site.url)
    page.fill("#website-form input[name=name]", "timetables")
    page.fill("#website-form input[name=maxPages]", "500")
    page.fill("#website-form input[name=maxDepth]", "10")
    page.uncheck("#website-form input[name=respectRobots]")
    page.click("#website-form button[type=submit]")

    row = job_row(page, "timetables")
    expect(row).to_have_attribute("data-status", "processing", timeout=20_000)
    expect(row.locator(".bar-label")).to_contain_text("crawled", timeout=20_000)
    row.locator("button[data-action=cancel]").click()
    expect(row).to_have_attribute("data-status", "cancelled", timeout=20_000)
    expect(row.locator("button[data-action=retry]")).to_be_visible()
    shot(page, "crawl-cancelled")

    with api(dashboard_server) as client:
        jobs = client.get(f"/api/agents/{agent_id}/jobs").json()["data"]
    assert [j["status"] for j in jobs] == ["cancelled"]
    assert jobs[0]["progress"].get("pages_crawled", 0) < 500


def test_the_page_asks_for_a_key_when_the_server_wants_one(browser: Any, dashboard_server: Server) -> None:
    if httpx.get(f"{dashboard_server.url}/api/agents", timeout=10).status_code != 401:
        pytest.skip("this build has no API keys yet (SLUICE_ADMIN_API_KEY)")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=dashboard_server.url)
    try:
        page = context.new_page()
        page.goto("/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        shot(page, "api-key")

        page.fill("#key-input", "not-the-key-at-all")
        page.click("#key-form button[type=submit]")
        expect(page.locator("#key-reason")).to_contain_text("refused")
        expect(dialog).to_be_visible()

        page.fill("#key-input", ADMIN_KEY)
        page.click("#key-form button[type=submit]")
        expect(dialog).to_be_hidden()
        expect(page.locator("#agent-form")).to_be_visible()
        expect(page.locator("table tbody tr").first).not_to_contain_text("API key")
        assert page.evaluate("localStorage.getItem('sluice.apiKey')") == ADMIN_KEY
    finally:
        context.close()
