"""The web crawler port: a start URL and options in, pages of main text out.

Contract: yields each kept page once, within the options' limits (pages, depth, scope);
pages it skips or fails are reported through ``on_progress`` and in the final
``CrawlReport``. A start URL that may not be fetched raises ``CrawlBlocked`` (permanent).
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
    def crawl(
        self,
        start_url: str,
        options: CrawlOptions,
        report: CrawlReport,
        *,
        on_progress: CrawlProgressFn | None = None,
    ) -> AsyncIterator[CrawledPage]: ...
