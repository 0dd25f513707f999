"""Website crawling: the options a user sets, the rules of scope, and what a crawl reports.

Pure: URL normalization, scope and path filters decide which links a crawl follows;
the adapter fetches. Normalization makes the many spellings of one page one key
(fragment dropped, host lower-cased, default port dropped, query sorted, session and
tracking parameters removed, ``/a/`` = ``/a`` = ``/a/index.html``), so a link loop or
a session-id loop ends at the first repeat and a calendar at the page limit.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from domain.errors import InvalidInput

DEFAULT_MAX_PAGES = 50
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 300
MAX_URL_LENGTH = 2048
# Each list in the job result names at most this many URLs; the counters stay exact.
MAX_LISTED = 200

# Query parameters that identify a visit, not a page.
SESSION_PARAMS = frozenset(
    {"sid", "sessionid", "session_id", "jsessionid", "phpsessid", "aspsessionid", "sessid", "gclid", "fbclid",
     "msclkid", "mc_cid", "mc_eid", "_ga", "ref", "ref_src"}
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
_INDEX_FILES = ("index.html", "index.htm", "index.php")


class Reason:
    """Why a URL was skipped or failed: the stable words of the job result."""

    ROBOTS = "robots"
    OUT_OF_SCOPE = "out_of_scope"
    BLOCKED_ADDRESS = "blocked_address"
    EXCLUDED = "excluded"
    TOO_DEEP = "too_deep"
    NOT_HTML = "not_html"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    HTTP_ERROR = "http_error"
    UNREACHABLE = "unreachable"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    NO_TEXT = "no_text"
    INVALID_URL = "invalid_url"
    ERROR = "error"

    # Skipped: the crawl chose not to fetch or keep it. Failed: fetching went wrong.
    SKIPPED = frozenset({ROBOTS, OUT_OF_SCOPE, BLOCKED_ADDRESS, EXCLUDED, TOO_DEEP, NOT_HTML, NO_TEXT, INVALID_URL})


def _patterns(values: tuple[str, ...], name: str) -> tuple[str, ...]:
    if len(values) > MAX_PATTERNS:
        raise InvalidInput(f"{name} holds more than {MAX_PATTERNS} patterns")
    clean = []
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_PATTERN_LENGTH:
            raise InvalidInput(f"each of {name} must be a glob pattern of 1 to {MAX_PATTERN_LENGTH} characters")
        value = value.strip()
        clean.append(value if value.startswith(("/", "*")) else "/" + value)
    return tuple(clean)


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    max_pages: int = DEFAULT_MAX_PAGES
    max_depth: int = 3
    crawl_subpages: bool = True
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    respect_robots: bool = True

    def __post_init__(self) -> None:
        if self.max_pages < 1:
            raise InvalidInput("max_pages must be at least 1")
        if self.max_depth < 0:
            raise InvalidInput("max_depth must be at least 0")
        object.__setattr__(self, "include_paths", _patterns(tuple(self.include_paths), "include_paths"))
        object.__setattr__(self, "exclude_paths", _patterns(tuple(self.exclude_paths), "exclude_paths"))

    def path_allowed(self, url: str) -> bool:
        """The include/exclude globs (``*`` spans slashes), matched on path plus query."""
        parts = urlsplit(url)
        target = unquote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if self.include_paths and not any(fnmatch.fnmatchcase(target, p) for p in self.include_paths):
            return False
        return not any(fnmatch.fnmatchcase(target, p) for p in self.exclude_paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_pages": self.max_pages,
            "max_depth": self.max_depth,
            "crawl_subpages": self.crawl_subpages,
            "include_paths": list(self.include_paths),
            "exclude_paths": list(self.exclude_paths),
            "respect_robots": self.respect_robots,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlOptions:
        return cls(
            max_pages=int(data.get("max_pages", DEFAULT_MAX_PAGES)),
            max_depth=int(data.get("max_depth", 3)),
            crawl_subpages=bool(data.get("crawl_subpages", True)),
            include_paths=tuple(data.get("include_paths") or ()),
            exclude_paths=tuple(data.get("exclude_paths") or ()),
            respect_robots=bool(data.get("respect_robots", True)),
        )


def normalize_url(href: str, base: str | None = None) -> str | None:
    """The canonical absolute http(s) URL of a link, or None when it is not one.

    Scheme and host lower-cased, default port and fragment dropped, ``.``/``..``
    resolved, empty path made ``/``, percent-escapes made upper-case, query parameters
    sorted with session and tracking ones removed.
    """
    href = href.strip()
    if not href or len(href) > MAX_URL_LENGTH or href.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
        return None
    try:
        absolute = urljoin(base, href) if base else href
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _clean_path(parts.path)
    query = _clean_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _clean_path(path: str) -> str:
    if not path:
        return "/"
    if ";" in path:  # ;jsessionid=... path parameters
        path = "/".join(seg.split(";", 1)[0] for seg in path.split("/"))
    trailing = path.endswith("/")
    path = posixpath.normpath(path) if "." in path else path
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if trailing and not path.endswith("/"):
        path += "/"
    return quote(unquote(path), safe="/:@!$&'()*+,;=-._~%")


def _clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = [
        (k, v)
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k.lower() not in SESSION_PARAMS and not k.lower().startswith("utm_")
    ]
    return urlencode(sorted(pairs))


def page_key(url: str) -> str:
    """The identity of a normalized URL for de-duplication: ``/a/``, ``/a`` and
    ``/a/index.html`` are one page."""
    parts = urlsplit(url)
    path = parts.path
    for index in _INDEX_FILES:
        if path.endswith("/" + index):
            path = path[: -len(index)]
            break
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit(("", parts.netloc, path, parts.query, ""))


def origin_of(url: str) -> tuple[str, int]:
    """(host, port) of a URL; http and https on their default ports count as one site."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return (parts.hostname or "", 0 if port in (80, 443) else port)


def in_scope(url: str, origin: tuple[str, int]) -> bool:
    """Same host (no subdomains) and same port as the crawl's start page."""
    return origin_of(url) == origin


@dataclass(frozen=True, slots=True)
class CrawledPage:
    url: str
    title: str | None
    text: str
    depth: int


@dataclass(slots=True)
class CrawlReport:
    """The running counts of a crawl and the URLs it skipped or failed, with why."""

    pages_discovered: int = 0
    pages_crawled: int = 0
    pages_skipped: int = 0
    pages_failed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def discovered(self, count: int = 1) -> None:
        self.pages_discovered += count

    def crawled(self) -> None:
        self.pages_crawled += 1

    def record(self, url: str, reason: str, detail: str = "") -> None:
        """Count a URL that was not kept; name it in the result (up to MAX_LISTED)."""
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        entry = {"url": url, "reason": reason}
        if detail:
            entry["detail"] = detail
        if reason in Reason.SKIPPED:
            self.pages_skipped += 1
            if len(self.skipped) < MAX_LISTED:
                self.skipped.append(entry)
        else:
            self.pages_failed += 1
            if len(self.failed) < MAX_LISTED:
                self.failed.append(entry)

    def progress(self) -> dict[str, int]:
        return {
            "pages_discovered": self.pages_discovered,
            "pages_crawled": self.pages_crawled,
            "pages_skipped": self.pages_skipped,
            "pages_failed": self.pages_failed,
        }

    def result(self) -> dict[str, Any]:
        return {
            **self.progress(),
            "reasons": dict(sorted(self.reasons.items())),
            "skipped": list(self.skipped),
            "failed": list(self.failed),
            "listed_limit": MAX_LISTED,
        }
