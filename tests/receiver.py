"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 answering from a script.

Each POST is recorded (path, headers, body) and answered with the next scripted answer:
a status code, ``Slow(seconds, status)`` or ``Redirect(location)``; 200 once the script
is used up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Slow:
    seconds: float
    status: int = 200


@dataclass(frozen=True)
class Redirect:
    location: str
    status: int = 302


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Receiver:
    answers: deque[Any] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    answer = receiver.answers.popleft() if receiver.answers else 200
                if isinstance(answer, Slow):
                    time.sleep(answer.seconds)
                    status = answer.status
                elif isinstance(answer, Redirect):
                    status = answer.status
                else:
                    status = int(answer)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, status))
                payload = b"x" * 100_000 if status == 200 else b"nope"
                try:
                    self.send_response(status)
                    if isinstance(answer, Redirect):
                        self.send_header("Location", answer.location)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting or stopped reading: as it may

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # the default 5 drops connects under a burst (1 s SYN retry)

        self.server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def script(self, *answers: Any) -> None:
        with self._lock:
            self.answers.extend(answers)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
