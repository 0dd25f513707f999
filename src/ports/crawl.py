"""The web crawler port: a start URL and options in, pages of main text out.

Contract: ``crawl`` yields each kept page once, as soon as it is fetched, within the
options' limits (pages, depth, scope); the counters go to ``on_progress`` while it runs,
and every URL it skips or fails is counted in ``report`` with its reason. A start URL
that may not be fetched (blocked address, robots.txt, an HTTP 4xx, not a page) raises
``CrawlBlocked`` (permanent); one that cannot be fetched now (timeout, 5xx, unreachable)
raises ``CrawlUnavailable`` (transient). ``check`` judges a start URL before a job is
created: the normalized URL, or ``CrawlBlocked``. No HTTP library error crosses the port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from domain.crawling import CrawledPage, CrawlOptions, CrawlReport
from domain.errors import PermanentError, TransientError

__all__ = ["CrawlBlocked", "CrawlOptions", "CrawlReport", "CrawlUnavailable", "CrawledPage", "WebCrawler"]


class CrawlBlocked(PermanentError):
    code = "crawl_blocked"


class CrawlUnavailable(TransientError):
    code = "crawl_unavailable"


CrawlProgressFn = Callable[[dict[str, Any]], Awaitable[None]]


class WebCrawler(Protocol):
    async def check(self, url: str) -> str: ...

    def crawl(
        self,
        start_url: str,
        options: CrawlOptions,
        report: CrawlReport,
        *,
        on_progress: CrawlProgressFn | None = None,
    ) -> AsyncIterator[CrawledPage]: ...
