"""In-process broadcast of job events (one process; tests and the embedded mode)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from ports.notify import JobEvent

_CLOSED = object()


class _Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, item: object) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A subscriber that stopped reading must not hold memory forever: end its stream.
            self.overflowed = True

    async def __aiter__(self) -> AsyncIterator[JobEvent]:
        while not self.overflowed or not self.queue.empty():
            item = await self.queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, JobEvent)
            yield item


class MemoryNotifier:
    """Delivers each event to every current subscriber of its channels, in order."""

    def __init__(self, *, max_backlog: int = 10_000) -> None:
        self._subs: dict[str, set[_Subscription]] = defaultdict(set)
        self._max_backlog = max_backlog
        self.published: int = 0

    async def publish(self, event: JobEvent) -> None:
        self.published += 1
        seen: set[int] = set()
        for channel in event.channels:
            for sub in list(self._subs.get(channel, ())):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[AsyncIterator[JobEvent]]:
        sub = _Subscription(self._max_backlog)
        for channel in channels:
            self._subs[channel].add(sub)
        try:
            yield sub.__aiter__()
        finally:
            for channel in channels:
                subs = self._subs.get(channel)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[channel]

    async def close(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(_CLOSED)
