"""Website crawling: the options a user sets and what a crawl reports."""

from __future__ import annotations

from dataclasses import dataclass, field


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
