"""The crawler against a local site full of traps (private networks allowed for it only).

The site on 127.0.0.1 has a link loop, an endless calendar, a session-id loop, a
robots.txt that disallows /private/ with a Crawl-delay, a sitemap (listing a page no
link reaches and a disallowed one), redirects to the metadata address, to another port
and into /private/, a 50 MB gzip bomb, a page trickling one byte a second, a binary
file and an off-site link.
"""

from __future__ import annotations

import itertools
import time

import pytest

from adapters.httpx.crawler import CrawlerSettings, HttpxWebCrawler
from domain.crawling import CrawledPage, CrawlOptions, CrawlReport, page_key
from domain.netpolicy import NetPolicy
from ports.crawl import CrawlBlocked
from standins.website import Site, TrapHandler, gzip_bomb, serve

MAX_PAGES = 12


@pytest.fixture
def sites():
    gzip_bomb()  # built before the clock starts: the crawl's page timeout is short
    with serve(TrapHandler) as other:
        handler = type("Traps", (TrapHandler,), {"other_port": other.port})
        with serve(handler) as site:
            yield site, other


def crawler_for(site: Site, **overrides) -> HttpxWebCrawler:
    settings = CrawlerSettings(
        # The private-network switch, on for this local site only; its port alone allowed.
        policy=NetPolicy(allow_private=True, allowed_ports=frozenset({site.port})),
        page_timeout=1.5,
        connect_timeout=1.0,
        max_page_bytes=2 * 1024 * 1024,
        **overrides,
    )
    return HttpxWebCrawler(settings)


async def crawl(
    crawler: HttpxWebCrawler, url: str, options: CrawlOptions
) -> tuple[list[CrawledPage], CrawlReport, list]:
    report = CrawlReport()
    progress: list[dict] = []

    async def on_progress(counts: dict) -> None:
        progress.append(counts)

    pages = [page async for page in crawler.crawl(url, options, report, on_progress=on_progress)]
    return pages, report, progress


def reasons_by_url(report: CrawlReport) -> dict[str, tuple[str, str]]:
    entries = report.skipped + report.failed
    return {e["url"].split("127.0.0.1", 1)[-1]: (e["reason"], e.get("detail", "")) for e in entries}


async def test_every_trap_ends_with_its_reason_and_the_crawl_stops_at_max_pages(sites) -> None:
    site, other = sites
    started = time.monotonic()
    pages, report, progress = await crawl(
        crawler_for(site), f"{site.url}/", CrawlOptions(max_pages=MAX_PAGES, max_depth=50)
    )
    elapsed = time.monotonic() - started

    # Bounded: exactly max_pages kept, each once, the endless calendar cut off by the limit.
    assert len(pages) == report.pages_crawled == MAX_PAGES
    assert len({page_key(p.url) for p in pages}) == MAX_PAGES
    kept = {p.url.split(str(site.port), 1)[1] for p in pages}
    assert {"/", "/from-sitemap", "/loop/a", "/loop/b", "/about", "/session"} <= kept  # sid dropped
    assert sum(u.startswith("/calendar") for u in kept) >= 2
    assert all(p.text and p.title for p in pages)
    about = next(p for p in pages if p.url.endswith("/about"))
    assert "rotating beam" in about.text and "footer text" not in about.text and "Home" not in about.text

    # Each trap, with its reason.
    why = reasons_by_url(report)
    offsite = next(e for e in report.skipped if "offsite.example" in e["url"])
    assert offsite["reason"] == "out_of_scope"
    assert why[f":{site.port}/private/secret"][0] == "robots"
    assert why[f":{site.port}/private/in-sitemap"][0] == "robots"
    assert why[f":{site.port}/old"][0] == "robots"  # redirected into /private/
    assert why[f":{site.port}/redirect-metadata"][0] == "blocked_address"
    assert "169.254.169.254" in why[f":{site.port}/redirect-metadata"][1]
    assert why[f":{site.port}/redirect-other-port"][0] == "blocked_address"
    assert f"port {other.port}" in why[f":{site.port}/redirect-other-port"][1]
    assert why[f":{site.port}/bomb"][0] == "too_large"
    assert why[f":{site.port}/trickle"][0] == "timeout"
    assert why[f":{site.port}/file.bin"] == ("not_html", "application/octet-stream")
    assert report.pages_skipped == len(report.skipped) and report.pages_failed == len(report.failed)
    assert {e["reason"] for e in report.failed} == {"too_large", "timeout"}

    # Never fetched what robots.txt disallows; loops fetched once; the other port untouched.
    paths = site.log.paths
    assert not [p for p in paths if p.startswith("/private/")]
    assert paths.count("/loop/a") == paths.count("/loop/b") == 1
    assert paths.count("/robots.txt") == 1 and "/sitemap.xml" in paths
    assert len([p for p in paths if p.startswith("/session")]) == 1
    assert other.log.paths == []

    # Crawl-delay: one request at a time, starts the delay apart (as the server saw them
    # arrive, give or take scheduling jitter; without pacing, 4 workers make gaps near 0).
    times = [t for t, p in site.log.entries if p != "/robots.txt"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= TrapHandler.crawl_delay * 0.5
    assert sum(gaps) / len(gaps) >= TrapHandler.crawl_delay

    # Progress while running, and fast despite the trickle and the bomb.
    assert progress and progress[-1]["pages_crawled"] == MAX_PAGES
    assert progress[-1]["pages_discovered"] >= MAX_PAGES
    assert elapsed < 15


async def test_a_start_url_on_a_refused_port_or_address_is_blocked(sites) -> None:
    site, other = sites
    crawler = crawler_for(site)
    with pytest.raises(CrawlBlocked, match=f"port {other.port}"):
        await crawler.check(f"{other.url}/")
    strict = HttpxWebCrawler(CrawlerSettings(policy=NetPolicy(allowed_ports=None)))
    with pytest.raises(CrawlBlocked, match="loopback"):
        await strict.check(f"{site.url}/")
    with pytest.raises(CrawlBlocked, match="loopback"):
        [p async for p in strict.crawl(f"{site.url}/", CrawlOptions(), CrawlReport())]
    assert site.log.paths == [] and other.log.paths == []


async def test_robots_disallowing_the_start_page_fails_the_crawl_without_fetching_it(sites) -> None:
    site, _ = sites
    with pytest.raises(CrawlBlocked, match=r"robots\.txt"):
        await crawl(crawler_for(site), f"{site.url}/private/secret", CrawlOptions())
    assert site.log.paths == ["/robots.txt"]


async def test_ignoring_robots_and_single_page_mode(sites) -> None:
    site, _ = sites
    pages, report, _ = await crawl(
        crawler_for(site), f"{site.url}/about", CrawlOptions(crawl_subpages=False, respect_robots=False)
    )
    assert [p.title for p in pages] == ["About"] and report.pages_crawled == 1
    assert site.log.paths == ["/about"]


async def test_include_and_exclude_paths_narrow_the_crawl(sites) -> None:
    site, _ = sites
    options = CrawlOptions(max_pages=20, max_depth=3, include_paths=("/loop/*", "/about*"), exclude_paths=("*/b",))
    pages, report, _ = await crawl(crawler_for(site), f"{site.url}/", options)
    kept = sorted(p.url.split(str(site.port), 1)[1] for p in pages)
    assert kept == ["/", "/about", "/loop/a"]
    assert report.reasons["excluded"] >= 5
