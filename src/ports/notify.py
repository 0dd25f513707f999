"""The notifier port: job events to whoever listens, in order, across processes.

Contract: ``publish`` never raises into a job (delivery is best effort; the jobs table
stays the truth); a subscriber receives, in publication order, every event published to
its channels after ``subscribe`` returned. Channels are ``job_{jobId}`` and
``agent_{agentId}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from domain.events import EVENT_NAME, JobEvent, agent_channel, job_channel

__all__ = ["EVENT_NAME", "JobEvent", "Notifier", "agent_channel", "job_channel"]


class Notifier(Protocol):
    async def publish(self, event: JobEvent) -> None: ...

    def subscribe(self, channels: Sequence[str]) -> AbstractAsyncContextManager[AsyncIterator[JobEvent]]: ...

    async def close(self) -> None: ...
