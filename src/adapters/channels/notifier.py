"""Job events through Litestar channels: memory backend embedded, Redis across processes.

An event published by a worker process reaches the subscribers of every API process
through Redis pub/sub; in embedded mode the memory backend does the same within one
process. Delivery is best effort (the jobs table is the truth): a stream starts with the
job's current state read from the database, then follows the events.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from domain.events import JobEvent

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JobEvent)


class ChannelsNotifier:
    def __init__(self, backend: Any, *, max_backlog: int = 10_000) -> None:
        from litestar.channels import ChannelsPlugin

        self._plugin = ChannelsPlugin(
            backend=backend,
            arbitrary_channels_allowed=True,
            subscriber_max_backlog=max_backlog,
            subscriber_backlog_strategy="dropleft",
        )
        self._started = False
        self._lock = asyncio.Lock()

    @classmethod
    def memory(cls) -> ChannelsNotifier:
        from litestar.channels.backends.memory import MemoryChannelsBackend

        return cls(MemoryChannelsBackend())

    @classmethod
    def redis(cls, url: str, *, prefix: str = "sluice_channels") -> ChannelsNotifier:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return cls(RedisChannelsPubSubBackend(redis=Redis.from_url(url), key_prefix=prefix))

    async def _ensure_started(self) -> None:
        if self._started:
            return
        async with self._lock:
            if not self._started:
                await self._plugin.__aenter__()
                self._started = True

    async def publish(self, event: JobEvent) -> None:
        try:
            await self._ensure_started()
            await self._plugin.wait_published(_encoder.encode(event), list(event.channels))
        except Exception:
            log.warning("could not publish an event of job %s", event.job_id, exc_info=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[AsyncIterator[JobEvent]]:
        await self._ensure_started()
        async with self._plugin.start_subscription(list(channels)) as subscriber:
            yield _decode(subscriber.iter_events())

    async def close(self) -> None:
        if self._started:
            self._started = False
            with contextlib.suppress(Exception):
                await self._plugin.__aexit__(None, None, None)


async def _decode(raw: AsyncIterator[bytes]) -> AsyncIterator[JobEvent]:
    recent: collections.OrderedDict[str, None] = collections.OrderedDict()
    async for payload in raw:
        try:
            event = _decoder.decode(payload)
        except msgspec.DecodeError:
            log.warning("ignored an undecodable job event")
            continue
        # Published once to the job's and the agent's channel: deliver it once.
        if event.event_id in recent:
            continue
        recent[event.event_id] = None
        if len(recent) > 256:
            recent.popitem(last=False)
        yield event
