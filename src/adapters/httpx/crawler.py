"""The web crawler on httpx and selectolax: polite, bounded, and behind the SSRF guard.

A crawl fetches robots.txt (RFC 9309: a 4xx allows everything, a 5xx, timeout or
unreachable server disallows everything; ``Crawl-delay`` paces requests), reads the
sitemap, fetches the start page, then walks same-site links breadth first with a few
workers per host. Each kept page is handed to the consumer as soon as it is parsed,
through a small queue, so a slow consumer (embedding) slows the crawl instead of
letting pages pile up in memory.

Every connection (pages, each redirect hop, robots.txt, sitemaps) goes through
``GuardedBackend``; proxies from the environment are ignored. Nothing a page does
(redirect loops, calendars, bombs, trickling, huge pages) can hold a worker past the
page deadline or past the decoded-size cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from protego import Protego

import sluice
from adapters.httpx.fetching import (
    ACCEPT,
    PAGE_TYPES,
    REDIRECTS,
    Body,
    Refused,
    looks_like_html,
    media_type_of,
    read_body,
)
from adapters.httpx.guard import AddressBlocked, GuardedBackend, GuardedTransport, Resolver
from adapters.selectolax.html import parse_page
from domain.crawling import (
    CrawledPage,
    CrawlOptions,
    CrawlReport,
    Reason,
    in_scope,
    normalize_url,
    origin_of,
    page_key,
)
from domain.netpolicy import NetPolicy
from ports.crawl import CrawlBlocked, CrawlUnavailable
from ports.crawl import CrawlProgressFn as ProgressFn

log = logging.getLogger("sluice.crawler")

MB = 1024 * 1024
ROBOTS_BYTES = 512 * 1024  # RFC 9309: at least 500 KiB must be read
ROBOTS_REDIRECTS = 5
MAX_SITEMAPS = 10
MAX_LINKS_PER_PAGE = 2000
LINK_CACHE_SIZE = 20_000  # ~8 MB at most; a docs sidebar repeats a few thousand links
# Larger pages are parsed on a thread so the event loop (heartbeats) keeps moving.
INLINE_PARSE_BYTES = 256 * 1024
PROGRESS_SECONDS = 0.5
_LOC = re.compile(rb"<loc>\s*([^<\s]+)\s*</loc>", re.I)


@dataclass(frozen=True, slots=True)
class CrawlerSettings:
    policy: NetPolicy = field(default_factory=NetPolicy)
    user_agent: str = f"Sluice/{sluice.__version__} (web crawler)"
    robots_agent: str = "Sluice"
    concurrency_per_host: int = 4
    connect_timeout: float = 10.0
    page_timeout: float = 30.0
    max_page_bytes: int = 10 * MB
    max_redirects: int = 10
    max_crawl_delay: float = 60.0


class _Robots:
    """The rules of one site, or a blanket answer when robots.txt could not be read."""

    def __init__(self, parser: Protego | None, *, allow_all: bool, agent: str, why: str = "") -> None:
        self._parser = parser
        self._allow_all = allow_all
        self._agent = agent
        self.why = why

    def allows(self, url: str) -> bool:
        if self._parser is None:
            return self._allow_all
        return bool(self._parser.can_fetch(url, self._agent))

    @property
    def delay(self) -> float:
        if self._parser is None:
            return 0.0
        delay = self._parser.crawl_delay(self._agent)
        rate = self._parser.request_rate(self._agent)
        if rate is not None and rate.requests:
            delay = max(delay or 0.0, rate.seconds / rate.requests)
        return float(delay or 0.0)

    @property
    def sitemaps(self) -> list[str]:
        return list(self._parser.sitemaps) if self._parser is not None else []


class _Pacer:
    """At most one request start per ``delay`` seconds (a site's Crawl-delay)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = asyncio.Lock()
        self._next = 0.0

    async def wait(self) -> None:
        if self.delay <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            if now < self._next:
                await asyncio.sleep(self._next - now)
            self._next = time.monotonic() + self.delay


class _Crawl:
    """The state of one crawl: client, robots rules, frontier, counters."""

    def __init__(self, crawler: HttpxWebCrawler, options: CrawlOptions, report: CrawlReport) -> None:
        self.settings = crawler.settings
        self.options = options
        self.report = report
        s = self.settings
        transport = GuardedTransport(
            crawler.backend,
            limits=httpx.Limits(
                max_connections=s.concurrency_per_host * 2, max_keepalive_connections=s.concurrency_per_host
            ),
            verify=crawler.verify,
        )
        self.client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(s.page_timeout, connect=s.connect_timeout),
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        )
        self.robots: dict[str, _Robots] = {}
        self.pacers: dict[str, _Pacer] = {}
        self.seen: set[str] = set()
        self.link_cache: dict[tuple[str, str], tuple[str, str] | None] = {}
        self.frontier: deque[tuple[str, int]] = deque()
        self.origin: tuple[str, int] = ("", 0)
        self.site = ""
        self.attempts = 0
        self.max_attempts = options.max_pages * 3 + 10
        self.frontier_cap = max(1000, options.max_pages * 20)

    # -- robots ---------------------------------------------------------------------

    async def robots_for(self, url: str) -> _Robots:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        rules = self.robots.get(site)
        if rules is None:
            rules = await self._read_robots(site)
            self.robots[site] = rules
            self.pacers[site] = _Pacer(min(rules.delay, self.settings.max_crawl_delay))
        return rules

    async def _read_robots(self, site: str) -> _Robots:
        agent = self.settings.robots_agent
        if not self.options.respect_robots:
            return _Robots(None, allow_all=True, agent=agent)
        try:
            async with asyncio.timeout(self.settings.page_timeout):
                body = await self._get(
                    f"{site}/robots.txt", limit=ROBOTS_BYTES, redirects=ROBOTS_REDIRECTS, truncate=True
                )
        except Refused as exc:
            # Unreachable, blocked or timed out: RFC 9309 says assume complete disallow.
            return _Robots(None, allow_all=False, agent=agent, why=f"robots.txt unreachable ({exc.reason})")
        except AddressBlocked:
            raise  # the site itself is refused: its pages are reported as blocked
        except (TimeoutError, httpx.TimeoutException):
            return _Robots(None, allow_all=False, agent=agent, why="robots.txt timed out")
        except (httpx.HTTPError, OSError) as exc:
            return _Robots(None, allow_all=False, agent=agent, why=f"robots.txt unreachable ({type(exc).__name__})")
        if 400 <= body.status < 500:
            return _Robots(None, allow_all=True, agent=agent)
        if body.status >= 500 or body.status < 200 or body.status >= 300:
            return _Robots(None, allow_all=False, agent=agent, why=f"robots.txt answered HTTP {body.status}")
        text = body.data.decode("utf-8", errors="replace")
        return _Robots(Protego.parse(text), allow_all=True, agent=agent)

    # -- fetching -------------------------------------------------------------------

    async def _get(self, url: str, *, limit: int, redirects: int, truncate: bool = False) -> Body:
        """GET with redirects followed (each hop through the guard); any status. A
        blocked first hop raises ``AddressBlocked`` (the site itself is refused); a
        blocked later hop makes the resource unreachable."""
        for hop in range(redirects + 1):
            try:
                async with self.client.stream("GET", url) as response:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        target = normalize_url(response.headers["location"], url)
                        if target is None:
                            raise Refused(Reason.UNREACHABLE, "redirect to a non-http URL")
                        url = target
                        continue
                    data = await self._read(response, limit, truncate)
                    media, charset = media_type_of(response.headers.get("content-type"))
                    return Body(str(url), response.status_code, media, charset, data)
            except AddressBlocked as exc:
                if hop == 0:
                    raise
                raise Refused(Reason.UNREACHABLE, f"redirected to a refused address ({exc.reason})") from None
        raise Refused(Reason.TOO_MANY_REDIRECTS, f"more than {redirects} redirects")

    async def _read(self, response: httpx.Response, limit: int, truncate: bool) -> bytes:
        try:
            return await read_body(response, limit)
        except Refused as exc:
            if truncate and exc.reason == Reason.TOO_LARGE:
                return b""
            raise

    async def fetch_page(self, url: str, *, scoped: bool) -> Body:
        """A page that may be kept: robots, scope and the guard checked at every hop.
        Raises ``Refused`` with the reason otherwise."""
        try:
            async with asyncio.timeout(self.settings.page_timeout):
                return await self._fetch_page(url, scoped=scoped)
        except TimeoutError:
            raise Refused(Reason.TIMEOUT, f"no complete answer within {self.settings.page_timeout:g} s") from None
        except AddressBlocked as exc:
            raise Refused(Reason.BLOCKED_ADDRESS, exc.reason) from None
        except httpx.TimeoutException as exc:
            raise Refused(Reason.TIMEOUT, type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise Refused(Reason.UNREACHABLE, f"{type(exc).__name__}: {exc}".strip(": ")) from None
        except OSError as exc:
            raise Refused(Reason.UNREACHABLE, f"{type(exc).__name__}: {exc}") from None
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise Refused(Reason.INVALID_URL, str(exc)[:200]) from None

    async def _fetch_page(self, url: str, *, scoped: bool) -> Body:
        first = url
        for hop in range(self.settings.max_redirects + 1):
            if hop:
                self.check_target(url, scoped=scoped, redirected_from=first)
            rules = await self.robots_for(url)
            if not rules.allows(url):
                raise Refused(Reason.ROBOTS, rules.why or "disallowed by robots.txt", transient=bool(rules.why))
            await self.pacers[_site(url)].wait()
            async with self.client.stream("GET", url) as response:
                status = response.status_code
                if status in REDIRECTS and "location" in response.headers:
                    target = normalize_url(response.headers["location"], url)
                    if target is None:
                        raise Refused(Reason.OUT_OF_SCOPE, "redirect to a non-http(s) URL")
                    url = target
                    continue
                if status >= 400 or status < 200:
                    raise Refused(Reason.HTTP_ERROR, f"HTTP {status}")
                media, charset = media_type_of(response.headers.get("content-type"))
                if media and media not in PAGE_TYPES:
                    raise Refused(Reason.NOT_HTML, media)
                data = await read_body(response, self.settings.max_page_bytes)
                if not media:
                    if not looks_like_html(data):
                        raise Refused(Reason.NOT_HTML, "no content type and not HTML")
                    media = "text/html"
                return Body(url, status, media, charset, data)
        raise Refused(Reason.TOO_MANY_REDIRECTS, f"more than {self.settings.max_redirects} redirects")

    def check_target(self, url: str, *, scoped: bool, redirected_from: str | None = None) -> None:
        """Refuse a URL before connecting. A redirect is judged by the policy first, so
        one to an internal address is reported as blocked even though it is off-site too;
        a link on a page is judged by scope first (an off-site link is never fetched)."""
        parts = urlsplit(url)
        if scoped and redirected_from is None and not in_scope(url, self.origin):
            raise Refused(Reason.OUT_OF_SCOPE, "another site than the start page")
        reason = self.settings.policy.url_refusal(parts.scheme, parts.hostname or "", parts.port)
        if reason is not None:
            host = parts.hostname or ""
            raise Refused(Reason.BLOCKED_ADDRESS, reason if reason.startswith("port") else f"{host} is {reason}")
        if scoped and not in_scope(url, self.origin):
            raise Refused(Reason.OUT_OF_SCOPE, f"another site than the start page (redirected from {redirected_from})")

    # -- pages ----------------------------------------------------------------------

    async def page_of(self, body: Body, depth: int) -> tuple[CrawledPage, list[tuple[str, str]]]:
        """The page, and its links as (normalized URL, page key) pairs."""
        if body.media_type == "text/plain":
            text = body.data.decode(body.charset or "utf-8", errors="replace")
            return CrawledPage(url=body.url, title=None, text=text.strip(), depth=depth), []
        source: str | bytes = body.data
        if body.charset and body.charset.lower().replace("-", "") != "utf8":
            with contextlib.suppress(LookupError):
                source = body.data.decode(body.charset, errors="replace")
        if len(body.data) > INLINE_PARSE_BYTES:
            parsed = await asyncio.to_thread(parse_page, source)
        else:
            parsed = parse_page(source)
        base = body.url
        if parsed.base:
            base = normalize_url(parsed.base, body.url) or body.url
        links: list[tuple[str, str]] = []
        directory = base.rsplit("/", 1)[0] + "/"
        cache = self.link_cache
        if len(cache) > LINK_CACHE_SIZE:
            cache.clear()
        for href in list(dict.fromkeys(parsed.links))[:MAX_LINKS_PER_PAGE]:
            # A relative link resolves the same from every page of one folder (the same
            # sidebar on every page of a docs tree): normalize it once per folder.
            key = (href, base if href.startswith("?") else directory)
            if key in cache:
                link = cache[key]
            else:
                url = normalize_url(href, base)
                link = cache[key] = (url, page_key(url)) if url is not None else None
            if link is not None:
                links.append(link)
        return CrawledPage(url=body.url, title=parsed.title, text=parsed.text, depth=depth), links

    def discover(self, links: list[tuple[str, str]], depth: int) -> None:
        """Queue the new in-scope links of a page; record the ones not followed."""
        for link, key in links:
            if key in self.seen:
                continue
            self.seen.add(key)
            try:
                self.check_target(link, scoped=True)
            except Refused as exc:
                self.report.record(link, exc.reason, exc.detail)
                continue
            if not self.options.path_allowed(link):
                self.report.record(link, Reason.EXCLUDED, "include_paths / exclude_paths")
                continue
            if depth > self.options.max_depth:
                self.report.record(link, Reason.TOO_DEEP, f"depth {depth} > max_depth {self.options.max_depth}")
                continue
            if len(self.frontier) >= self.frontier_cap:
                continue
            self.report.discovered()
            self.frontier.append((link, depth))

    async def sitemap_links(self, start: str) -> list[str]:
        """Page URLs from the site's sitemaps (robots.txt's, else /sitemap.xml)."""
        rules = await self.robots_for(start)
        site = _site(start)
        candidates = [u for u in (normalize_url(s) for s in rules.sitemaps) if u and in_scope(u, self.origin)]
        queue = deque(candidates or [f"{site}/sitemap.xml"])
        found: list[str] = []
        fetched = 0
        while queue and fetched < MAX_SITEMAPS and len(found) < self.frontier_cap:
            url = queue.popleft()
            fetched += 1
            if not rules.allows(url):
                continue
            try:
                async with asyncio.timeout(self.settings.page_timeout):
                    await self.pacers[site].wait()
                    body = await self._get(url, limit=self.settings.max_page_bytes, redirects=3)
            except (Refused, TimeoutError, AddressBlocked, httpx.HTTPError, OSError):
                continue
            if body.status != 200:
                continue
            data = _gunzip(body.data, self.settings.max_page_bytes)
            locs = _sitemap_locations(data)
            nested = b"<sitemapindex" in data[:2048].lower()
            for loc in locs:
                link = normalize_url(loc)
                if link is None or not in_scope(link, self.origin):
                    continue
                (queue if nested else found).append(link)
        return found


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _sitemap_locations(data: bytes) -> list[str]:
    if b"<" not in data[:512]:  # a text sitemap: one URL per line
        return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return [html.unescape(m.decode("utf-8", "replace")) for m in _LOC.findall(data)]


def _gunzip(data: bytes, limit: int) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(data, limit)
    except zlib.error:
        return b""


class HttpxWebCrawler:
    """``WebCrawler`` over httpx + selectolax; settings from ``CrawlerSettings``."""

    def __init__(
        self,
        settings: CrawlerSettings | None = None,
        *,
        resolver: Resolver | None = None,
        network: Any = None,
        verify: Any = True,
    ) -> None:
        self.settings = settings or CrawlerSettings()
        self.backend = GuardedBackend(self.settings.policy, resolver=resolver, inner=network)
        self.verify = verify

    async def check(self, url: str) -> str:
        """The normalized start URL, or ``CrawlBlocked`` when it may not be fetched
        (scheme, port, or a host that is or resolves to an internal address)."""
        start = normalize_url(url)
        if start is None:
            raise CrawlBlocked("the URL must be an absolute http or https URL")
        parts = urlsplit(start)
        reason = self.settings.policy.url_refusal(parts.scheme, parts.hostname or "", parts.port)
        if reason is not None:
            what = reason if reason.startswith(("port ", "the scheme")) else f"{parts.hostname} is {reason}"
            raise CrawlBlocked(f"{start} may not be crawled: {what}")
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                await self.backend.addresses(
                    parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
                )
        except AddressBlocked as exc:
            raise CrawlBlocked(f"{start} may not be crawled: {exc.reason}") from None
        except Exception:
            pass  # not resolvable now: the crawl says so, and may be retried
        return start

    async def crawl(
        self,
        start_url: str,
        options: CrawlOptions,
        report: CrawlReport,
        *,
        on_progress: ProgressFn | None = None,
    ) -> AsyncIterator[CrawledPage]:
        start = normalize_url(start_url)
        if start is None:
            raise CrawlBlocked("the URL must be an absolute http or https URL")
        crawl = _Crawl(self, options, report)
        progress = _Progress(report, on_progress)
        try:
            first = await self._start(crawl, start)
            if first is None:
                return
            page, links = first
            if options.crawl_subpages:
                crawl.discover([(link, page_key(link)) for link in await crawl.sitemap_links(page.url)], 1)
                crawl.discover(links, 1)
            if page.text:
                yield page
            if options.crawl_subpages:
                async for page in self._walk(crawl, progress):
                    yield page
            await progress.send(force=True)
        finally:
            await crawl.client.aclose()

    async def _start(self, crawl: _Crawl, start: str) -> tuple[CrawledPage, list[tuple[str, str]]] | None:
        report = crawl.report
        crawl.seen.add(page_key(start))
        report.discovered()
        try:
            crawl.check_target(start, scoped=False)
            crawl.attempts += 1
            body = await crawl.fetch_page(start, scoped=False)
        except Refused as exc:
            raise _start_error(start, exc) from None
        crawl.origin = origin_of(body.url)
        crawl.site = _site(body.url)
        crawl.seen.add(page_key(body.url))
        page, links = await crawl.page_of(body, 0)
        if not page.text:
            raise CrawlBlocked(f"the start page {start} has no text to index")
        report.crawled()
        return page, links

    async def _walk(self, crawl: _Crawl, progress: _Progress) -> AsyncIterator[CrawledPage]:
        """Breadth first with a few workers; pages come out through a bounded queue."""
        options, report = crawl.options, crawl.report
        pacer = crawl.pacers.get(crawl.site)
        delay = pacer.delay if pacer is not None else 0.0
        workers = 1 if delay > 0 else max(1, crawl.settings.concurrency_per_host)
        out: asyncio.Queue[CrawledPage | None] = asyncio.Queue(maxsize=workers * 2)
        state = {"busy": 0, "kept": report.pages_crawled, "reserved": 0}
        wake = asyncio.Event()

        def can_take() -> bool:
            return (
                bool(crawl.frontier)
                and state["kept"] + state["reserved"] < options.max_pages
                and crawl.attempts < crawl.max_attempts
            )

        async def worker() -> None:
            while True:
                while not can_take():
                    if state["busy"] == 0 and state["reserved"] == 0:
                        wake.set()
                        return
                    wake.clear()
                    await wake.wait()
                url, depth = crawl.frontier.popleft()
                state["busy"] += 1
                state["reserved"] += 1
                crawl.attempts += 1
                page: CrawledPage | None = None
                try:
                    body = await crawl.fetch_page(url, scoped=True)
                    key = page_key(body.url)
                    if body.url != url and key != page_key(url) and key in crawl.seen:
                        continue  # a redirect to a page already crawled or queued
                    crawl.seen.add(key)
                    page, links = await crawl.page_of(body, depth)
                    crawl.discover(links, depth + 1)
                    if not page.text:
                        report.record(body.url, Reason.NO_TEXT)
                        page = None
                except Refused as exc:
                    report.record(url, exc.reason, exc.detail)
                except Exception as exc:
                    # A page must never end the crawl: count it as failed, go on.
                    log.warning("crawling %s failed unexpectedly", url, exc_info=True)
                    report.record(url, Reason.ERROR, f"{type(exc).__name__}: {exc}"[:200])
                    page = None
                finally:
                    state["busy"] -= 1
                    state["reserved"] -= 1
                    if page is not None:
                        state["kept"] += 1
                        report.crawled()
                    wake.set()
                if page is not None:
                    await out.put(page)

        async def run_all() -> None:
            try:
                await asyncio.gather(*(worker() for _ in range(workers)))
            finally:
                await out.put(None)

        runner = asyncio.create_task(run_all(), name="sluice-crawl")
        try:
            while True:
                try:
                    item = await asyncio.wait_for(out.get(), timeout=PROGRESS_SECONDS)
                except TimeoutError:
                    await progress.send()
                    continue
                if item is None:
                    break
                await progress.send()
                yield item
            await runner  # re-raises a worker's unexpected error
        finally:
            if not runner.done():
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner


def _start_error(start: str, exc: Refused) -> Exception:
    detail = f" ({exc.detail})" if exc.detail else ""
    if exc.reason in (Reason.BLOCKED_ADDRESS, Reason.OUT_OF_SCOPE):
        return CrawlBlocked(f"{start} may not be crawled: {exc.detail or exc.reason}")
    if exc.reason == Reason.ROBOTS and exc.transient:
        return CrawlUnavailable(f"could not read robots.txt for {start}{detail}; the crawl waits for it")
    if exc.reason == Reason.ROBOTS:
        return CrawlBlocked(f"robots.txt does not allow crawling {start}{detail}")
    if exc.reason in (Reason.TIMEOUT, Reason.UNREACHABLE):
        return CrawlUnavailable(f"could not fetch the start page {start}: {exc.reason}{detail}")
    if exc.reason == Reason.HTTP_ERROR and (exc.detail.startswith("HTTP 5") or exc.detail == "HTTP 429"):
        return CrawlUnavailable(f"the start page {start} answered {exc.detail}")
    if exc.reason == Reason.HTTP_ERROR:
        return CrawlBlocked(f"the start page {start} answered {exc.detail}", code="crawl_start_failed")
    if exc.reason == Reason.NOT_HTML:
        return CrawlBlocked(f"the start page {start} is not an HTML page{detail}", code="crawl_start_failed")
    return CrawlBlocked(f"could not crawl the start page {start}: {exc.reason}{detail}", code="crawl_start_failed")


class _Progress:
    """Counters to the job's progress, at most every PROGRESS_SECONDS and when changed."""

    def __init__(self, report: CrawlReport, send: Callable[[dict[str, Any]], Awaitable[None]] | None) -> None:
        self._report = report
        self._send = send
        self._last: dict[str, int] | None = None
        self._at = 0.0

    async def send(self, *, force: bool = False) -> None:
        if self._send is None:
            return
        now = time.monotonic()
        current = self._report.progress()
        if current == self._last or (not force and now - self._at < PROGRESS_SECONDS):
            return
        self._last, self._at = current, now
        await self._send(current)
