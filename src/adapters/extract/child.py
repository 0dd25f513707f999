"""The extraction child process: ``python -m adapters.extract.child MEMORY_MB``.

Reads requests from stdin and streams results to stdout, one length-prefixed msgpack
frame each. Its address space is capped (RLIMIT_AS) once the parsers are imported, so a
file that explodes in memory fails here, not in the worker. The parent enforces the
time limit by killing it, and starts a fresh one.

Frames out: ``["ready"]``; then per request any number of ``["p", progress]`` and
``["s", text, page_starts, metadata]``, ended by ``["d", rss_kb]`` (done),
``["e", message]`` (the file cannot be read) or ``["m"]`` (out of memory; the child
exits after it).
"""

from __future__ import annotations

import os
import resource
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import msgspec

from adapters.extract.docx import extract_docx
from adapters.extract.limits import ExtractLimits
from adapters.extract.pdf import extract_pdf
from adapters.extract.tabular import extract_json
from domain.documents import Section
from ports.extract import ExtractionFailed

HEADER = struct.Struct(">I")

Extract = Callable[[str, ExtractLimits, Callable[[dict[str, Any]], None]], Iterator[Section]]
EXTRACTORS: dict[str, Extract] = {"pdf": extract_pdf, "docx": extract_docx, "json": extract_json}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def limit_memory(memory_mb: int) -> None:
    """Cap the address space at what is mapped now (interpreter, parsers) plus the budget."""
    if memory_mb <= 0:
        return
    ceiling = _status_kb("VmSize:") * 1024 + memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))


class Channel:
    def __init__(self, inp: BinaryIO, out: BinaryIO) -> None:
        self._in, self._out = inp, out
        self._encoder = msgspec.msgpack.Encoder()

    def send(self, *frame: Any) -> None:
        body = self._encoder.encode(frame)
        self._out.write(HEADER.pack(len(body)) + body)
        self._out.flush()

    def receive(self) -> Any:
        head = self._in.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        (size,) = HEADER.unpack(head)
        return msgspec.msgpack.decode(self._in.read(size))


def serve(channel: Channel) -> None:
    channel.send("ready")
    while (request := channel.receive()) is not None:
        kind, path, limits = request["kind"], request["path"], ExtractLimits.from_dict(request["limits"])
        try:
            for section in EXTRACTORS[kind](path, limits, lambda progress: channel.send("p", progress)):
                channel.send("s", section.text, section.page_starts, section.metadata)
        except ExtractionFailed as exc:
            channel.send("e", exc.message)
            continue
        except MemoryError:
            channel.send("m")
            sys.exit(3)
        except RecursionError:
            channel.send("e", "the file is nested too deeply to read")
            continue
        except Exception as exc:
            channel.send("e", f"the file could not be read ({type(exc).__name__}: {exc})")
            continue
        channel.send("d", _status_kb("VmRSS:"))


def main() -> None:
    memory_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # Frames own the real stdout; anything a C library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Import the parsers' native parts before the cap, so it bounds the file's work only.
    import docx  # noqa: F401
    import pypdf  # noqa: F401
    import pypdfium2  # noqa: F401

    limit_memory(memory_mb)
    serve(Channel(sys.stdin.buffer, out))


if __name__ == "__main__":
    main()
