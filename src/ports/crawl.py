"""The web crawler port: a start URL and options in, pages of main text out.

Contract: yields each kept page once, within the options' limits (pages, depth, scope);
pages it skips or fails are reported through ``on_progress`` and in the final
``CrawlReport``. A start URL that may not be fetched raises ``CrawlBlocked`` (permanent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.errors import PermanentError, TransientError


class CrawlBlocked(PermanentError):
    code = "crawl_blocked"


class CrawlUnavailable(TransientError):
    code = "crawl_unavailable"


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    max_pages: int = 50
    max_depth: int = 3
    crawl_subpages: bool = True
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    respect_robots: bool = True


@dataclass(frozen=True, slots=True)
class CrawledPage:
    url: str
    title: str | None
    text: str
    depth: int


@dataclass(slots=True)
class CrawlReport:
    pages_discovered: int = 0
    pages_crawled: int = 0
    pages_skipped: int = 0
    pages_failed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


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
