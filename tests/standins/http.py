"""The shared machinery of the stand-ins: a threaded HTTP/1.1 server with fault injection."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(slots=True)
class Fault:
    status: int
    retry_after: str | None = None
    retry_after_ms: str | None = None
    body: dict[str, Any] | None = None


@dataclass(slots=True)
class Faults:
    """What the next requests get instead of an answer. Thread-safe.

    ``fail_next(n, ...)`` fails the next ``n`` requests; ``fail_every(k, ...)`` fails one
    request in ``k`` (the 1st, the k+1-th, ...) until cleared; ``delay`` slows every
    answer down.
    """

    delay: float = 0.0
    _queue: list[Fault] = field(default_factory=list)
    _every: tuple[int, Fault] | None = None
    _seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int = 1, status: int = 429, **kw: Any) -> None:
        with self._lock:
            self._queue.extend(Fault(status, **kw) for _ in range(n))

    def fail_every(self, k: int, status: int = 429, **kw: Any) -> None:
        with self._lock:
            self._every, self._seen = (k, Fault(status, **kw)), 0

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._every, self.delay = None, 0.0

    def take(self) -> Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            if self._every is not None:
                k, fault = self._every
                self._seen += 1
                if self._seen % k == 1 or k == 1:
                    return fault
            return None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class Reply(Exception):
    """Raised by a route to answer with an error status and a JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class StandIn:
    """Subclasses implement ``route(request) -> (status, json body)`` or raise ``Reply``."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests: list[Request] = []
        self.faulted = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK

            def log_message(self, *args: Any) -> None:  # quiet
                return None

            def _handle(self) -> None:
                stand_in._serve(self)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Request(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        request_size = len(raw)
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, request, request_size)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: BaseHTTPRequestHandler, request: Request, request_size: int) -> None:
        if self.faults.delay:
            time.sleep(self.faults.delay)
        headers: dict[str, str] = {}
        fault = self.faults.take()
        if fault is not None:
            with self._lock:
                self.faulted += 1
            status, payload = fault.status, fault.body or {"error": {"message": f"stand-in fault {fault.status}"}}
            if fault.retry_after is not None:
                headers["retry-after"] = fault.retry_after
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = fault.retry_after_ms
        else:
            try:
                status, payload = self.route_sized(request, request_size)
            except Reply as reply:
                status, payload, headers = reply.status, reply.body, reply.headers
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def route_sized(self, request: Request, size: int) -> tuple[int, Any]:
        return self.route(request)

    def calls(self, path: str) -> list[Request]:
        """The requests (not faulted ones excluded) made to ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]
