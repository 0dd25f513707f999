"""Local websites for crawl tests: a site full of traps, and a folder served as is.

Each server runs on 127.0.0.1 in a thread and logs every request path (with its time),
so a test can assert what the crawler fetched and what it never touched.
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BOMB_DECODED_BYTES = 50 * 1024 * 1024


@functools.cache
def gzip_bomb() -> bytes:
    """An HTML page of 50 MB once decoded, about 50 KB on the wire."""
    return gzip.compress(b"<html><body><p>" + b"A" * BOMB_DECODED_BYTES, compresslevel=6)


@dataclass
class RequestLog:
    entries: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str) -> None:
        with self.lock:
            self.entries.append((time.monotonic(), path))

    @property
    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, p in self.entries]


@dataclass
class Site:
    port: int
    log: RequestLog

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[Site]:
    log = RequestLog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, log))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Site(port=server.server_address[1], log=log)
    finally:
        server.shutdown()
        server.server_close()


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><main><h1>{title}</h1>{body}</main>"
        f"<footer>footer text</footer></body></html>"
    ).encode()


class TrapHandler(BaseHTTPRequestHandler):
    """The trap site. ``other_port`` is a second server (redirect target)."""

    protocol_version = "HTTP/1.1"
    other_port = 0
    crawl_delay = 0.05

    def __init__(self, log: RequestLog, *args, **kwargs) -> None:
        self.request_log = log
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", Location=location)

    def do_GET(self) -> None:
        self.request_log.add(self.path)
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if path == "/robots.txt":
            text = (
                f"User-agent: *\nDisallow: /private/\nCrawl-delay: {self.crawl_delay}\n\nSitemap: {base}/sitemap.xml\n"
            )
            self._send(200, text.encode(), "text/plain")
        elif path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in ("/from-sitemap", "/private/in-sitemap"))
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            self._send(200, xml.encode(), "application/xml")
        elif path == "/":
            links = [
                "/loop/a",
                "/calendar?month=2024-01",
                "/private/secret",
                "/redirect-metadata",
                "/redirect-other-port",
                "/bomb",
                "/trickle",
                "/file.bin",
                "http://offsite.example/page",
                "/old",
                "/about",
                "/about/",
                "/about#team",
                "/session?sid=1",
            ]
            body = "".join(f"<p><a href='{href}'>link {i}</a></p>" for i, href in enumerate(links))
            self._send(200, _page("Trap index", "<p>The lighthouse keeper's index page.</p>" + body))
        elif path == "/loop/a":
            self._send(200, _page("Loop A", "<p>Loop page A links to <a href='b'>B</a>.</p>"))
        elif path == "/loop/b":
            self._send(200, _page("Loop B", "<p>Loop page B links to <a href='a'>A</a>.</p>"))
        elif path == "/calendar":
            year, month = (int(x) for x in query.get("month", ["2024-01"])[0].split("-"))
            nxt = f"{year + (month == 12)}-{month % 12 + 1:02d}"
            prev = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
            body = f"<p>Events of {year}-{month:02d}.</p><a href='/calendar?month={nxt}'>next</a>"
            self._send(200, _page(f"Calendar {year}-{month:02d}", body + f"<a href='?month={prev}'>previous</a>"))
        elif path == "/session":
            sid = int(query.get("sid", ["0"])[0])
            self._send(200, _page("Session", f"<p>Session page.</p><a href='/session?sid={sid + 1}'>again</a>"))
        elif path == "/redirect-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/redirect-other-port":
            self._redirect(f"http://127.0.0.1:{self.other_port}/admin")
        elif path == "/old":
            self._redirect("/private/moved")
        elif path == "/bomb":
            self._send(200, gzip_bomb(), Content_Encoding="gzip")
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "60")
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                return
        elif path == "/file.bin":
            self._send(200, b"\x00\x01binary" * 100, "application/octet-stream")
        elif path in ("/about", "/about/"):
            self._send(200, _page("About", "<p>About the lighthouse: a rotating beam warns ships at night.</p>"))
        elif path == "/from-sitemap":
            self._send(200, _page("From the sitemap", "<p>Only the sitemap links to this page.</p>"))
        else:
            self._send(404, _page("Not found", "<p>nothing here</p>"))


class FolderHandler(SimpleHTTPRequestHandler):
    def __init__(self, log: RequestLog, *args, directory: str, **kwargs) -> None:
        self.request_log = log
        super().__init__(*args, directory=directory, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.request_log.add(self.path)
        super().do_GET()


def folder_handler(root: Path) -> Callable[..., BaseHTTPRequestHandler]:
    return functools.partial(FolderHandler, directory=str(root))
