"""The notifier port: job events to whoever listens, in order, across processes.

Contract: ``publish`` never raises into a job (delivery is best effort; the jobs table
stays the truth); a subscriber receives, in publication order, every event published to
its channels after ``subscribe`` returned. Channels are ``job_{jobId}`` and
``agent_{agentId}``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

EVENT_NAME = "job_status_update"


def job_channel(job_id: uuid.UUID | str) -> str:
    return f"job_{job_id}"


def agent_channel(agent_id: uuid.UUID | str) -> str:
    return f"agent_{agent_id}"


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: str
    source_id: str
    agent_id: str
    status: str
    progress: dict[str, Any]
    attempts: int
    max_attempts: int
    error_message: str | None
    scheduled_for: str | None
    updated_at: str
    event: str = EVENT_NAME
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> tuple[str, str]:
        return job_channel(self.job_id), agent_channel(self.agent_id)


class Notifier(Protocol):
    async def publish(self, event: JobEvent) -> None: ...

    def subscribe(self, channels: Sequence[str]) -> AbstractAsyncContextManager[AsyncIterator[JobEvent]]: ...

    async def close(self) -> None: ...
