"""Extraction in child processes with a time limit and a memory limit.

A crafted PDF or DOCX can make a parser loop, recurse or allocate without end; in a
child it only costs that child. Children are reused between files (starting Python and
importing PDFium costs more than extracting a 200-page PDF), so the overhead per file
is one round trip on a pipe. A child is replaced when it was killed, failed with an
unknown state, or grew past ``recycle_mb``.

The time limit counts only the time spent waiting for the child: while the consumer
embeds a section, a child blocked on a full pipe is not charged for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from adapters.extract.child import HEADER
from adapters.extract.limits import ExtractLimits
from domain.documents import Section
from domain.errors import TransientError
from ports.extract import ExtractionFailed

log = logging.getLogger("sluice.extract")

ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]
START_SECONDS = 60.0


class _Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._encoder = msgspec.msgpack.Encoder()

    @classmethod
    async def start(cls, memory_mb: int) -> _Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adapters.extract.child",
            str(memory_mb),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        child = cls(proc)
        try:
            ready = await asyncio.wait_for(child.receive(), START_SECONDS)
        except (TimeoutError, asyncio.IncompleteReadError):
            await child.kill()
            raise TransientError("the extraction process could not start") from None
        except BaseException:
            # Cancelled (a worker stopping while it starts): leave no process behind.
            await asyncio.shield(child.kill())
            raise
        if ready != ["ready"]:
            await child.kill()
            raise TransientError("the extraction process could not start")
        return child

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        body = self._encoder.encode(message)
        self.proc.stdin.write(HEADER.pack(len(body)) + body)
        await self.proc.stdin.drain()

    async def receive(self) -> Any:
        assert self.proc.stdout is not None
        head = await self.proc.stdout.readexactly(HEADER.size)
        (size,) = HEADER.unpack(head)
        return msgspec.msgpack.decode(await self.proc.stdout.readexactly(size))

    async def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 10)

    def rss_mb(self, kb: int) -> float:
        return kb / 1024


class IsolatedExtraction:
    """At most ``size`` children at once; each runs one extraction at a time."""

    def __init__(self, *, memory_mb: int, timeout_seconds: float, size: int = 2, recycle_mb: int = 300) -> None:
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self.recycle_mb = recycle_mb
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Child] = []
        self._lock = asyncio.Lock()

    async def warm(self) -> None:
        """Start one child ahead of the first file."""
        async with self._lock:
            if not self._idle:
                self._idle.append(await _Child.start(self.memory_mb))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for child in idle:
            await child.kill()

    async def _take(self) -> _Child:
        async with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
        return await _Child.start(self.memory_mb)

    async def run(
        self, kind: str, path: str, limits: ExtractLimits, on_progress: ProgressFn | None = None
    ) -> AsyncIterator[Section]:
        async with self._slots:
            child = await self._take()
            reusable = False
            try:
                await child.send({"kind": kind, "path": path, "limits": limits.to_dict()})
                waited = 0.0
                while True:
                    started = time.monotonic()
                    try:
                        frame = await asyncio.wait_for(child.receive(), max(0.001, self.timeout_seconds - waited))
                    except TimeoutError:
                        raise ExtractionFailed(
                            f"extracting the file took longer than {self.timeout_seconds:g} s "
                            "(EXTRACT_TIMEOUT_SECONDS); it may be crafted to make the parser loop"
                        ) from None
                    except asyncio.IncompleteReadError:
                        raise ExtractionFailed(await self._died(child)) from None
                    waited += time.monotonic() - started
                    tag = frame[0]
                    if tag == "s":
                        yield Section(text=frame[1], page_starts=tuple(tuple(p) for p in frame[2]), metadata=frame[3])
                    elif tag == "p":
                        if on_progress is not None:
                            await on_progress(frame[1])
                    elif tag == "d":
                        reusable = child.rss_mb(frame[1]) < self.recycle_mb
                        return
                    elif tag == "e":
                        reusable = True
                        raise ExtractionFailed(frame[1])
                    elif tag == "m":
                        raise ExtractionFailed(self._memory_message())
                    else:
                        raise ExtractionFailed(f"the extraction process answered {tag!r}")
            finally:
                if reusable and child.alive:
                    self._idle.append(child)
                else:
                    await child.kill()

    def _memory_message(self) -> str:
        return (
            f"extracting the file needs more than {self.memory_mb} MB of memory (EXTRACT_MEMORY_MB); "
            "it may be crafted to exhaust memory"
        )

    async def _died(self, child: _Child) -> str:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.proc.wait(), 5)
        code = child.proc.returncode
        if code == 3:
            return self._memory_message()
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            log.warning("extraction process died with %s", name)
            return (
                f"the parser crashed on this file ({name}): it is malformed, or needs more than "
                f"{self.memory_mb} MB of memory (EXTRACT_MEMORY_MB)"
            )
        return f"the extraction process stopped unexpectedly (exit code {code})"
