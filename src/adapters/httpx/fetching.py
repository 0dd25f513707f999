"""One polite, bounded page fetch: redirects hop by hop, a decoded-size cap, a deadline.

The body is read raw and decompressed here, ``max_length`` at a time, so a gzip bomb
stops at the cap having used no more memory than the cap (httpx's own decoders inflate
each network chunk whole). Only ``gzip`` and ``deflate`` are asked for.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import httpx

from domain.crawling import Reason

ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.8,*/*;q=0.1"
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Refused(Exception):
    """A fetch that ended without a page: ``reason`` is one of ``domain.crawling.Reason``."""

    def __init__(self, reason: str, detail: str = "", *, transient: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        # The site may answer later (robots.txt unreachable): a start page refused so
        # is worth a retry.
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Body:
    url: str
    status: int
    media_type: str
    charset: str | None
    data: bytes


class BoundedDecoder:
    """Content-Encoding decoding that never produces more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise Refused(Reason.NOT_HTML, f"unsupported content encoding {encoding!r}")
        self._coding = codings[0] if codings else None
        self._limit = limit
        self._size = 0
        self._inflater: zlib._Decompress | None = None
        self._raw_deflate_tried = False
        self._parts: list[bytes] = []

    def _new_inflater(self) -> zlib._Decompress:
        if self._coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate_tried else zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise Refused(Reason.TOO_LARGE, f"more than {self._limit} bytes once decoded")
        if data:
            self._parts.append(data)

    def feed(self, raw: bytes) -> None:
        if self._coding is None:
            self._keep(raw)
            return
        data = raw
        while data:
            if self._inflater is None:
                self._inflater = self._new_inflater()
            try:
                out = self._inflater.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                if self._coding == "deflate" and not self._raw_deflate_tried and self._size == 0:
                    self._raw_deflate_tried, self._inflater = True, None  # deflate without zlib header
                    continue
                raise Refused(Reason.UNREACHABLE, f"corrupt {self._coding} body: {exc}") from None
            self._keep(out)
            if self._inflater.unconsumed_tail:
                data = self._inflater.unconsumed_tail
            elif self._inflater.eof and self._inflater.unused_data:
                data, self._inflater = self._inflater.unused_data, None  # another gzip member
            else:
                data = b""

    def finish(self) -> bytes:
        return b"".join(self._parts)


def media_type_of(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    head, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return head.strip().lower(), charset


async def read_body(response: httpx.Response, limit: int) -> bytes:
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if length.isdigit() and not encoding and int(length) > limit:
        raise Refused(Reason.TOO_LARGE, f"{length} bytes; the limit is {limit}")
    decoder = BoundedDecoder(encoding, limit)
    async for raw in response.aiter_raw():
        decoder.feed(raw)
    return decoder.finish()


def looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or b"<html" in head
