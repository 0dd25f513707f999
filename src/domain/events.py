"""Job events: what real-time subscribers and webhooks receive on every change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.jobs import Job

EVENT_NAME = "job_status_update"


def job_channel(job_id: uuid.UUID | str) -> str:
    return f"job_{job_id}"


def agent_channel(agent_id: uuid.UUID | str) -> str:
    return f"agent_{agent_id}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: str
    source_id: str
    agent_id: str
    type: str
    status: str
    progress: dict[str, Any]
    attempts: int
    max_attempts: int
    error_message: str | None
    scheduled_for: str | None
    updated_at: str
    event: str = EVENT_NAME
    extra: dict[str, Any] = field(default_factory=dict)
    # Identifies one publication: it goes to two channels, and a subscriber of both
    # must see it once.
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, job: Job) -> JobEvent:
        return cls(
            job_id=str(job.id),
            source_id=str(job.data_source_id),
            agent_id=str(job.agent_id),
            type=job.type.value,
            status=job.status.value,
            progress=dict(job.progress),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            error_message=job.error_message,
            scheduled_for=_iso(job.scheduled_for),
            updated_at=_iso(job.updated_at) or "",
        )

    def payload(self) -> dict[str, Any]:
        """The event as clients receive it (camelCase), over SSE, WebSocket and webhooks."""
        return {
            "jobId": self.job_id,
            "sourceId": self.source_id,
            "agentId": self.agent_id,
            "type": self.type,
            "status": self.status,
            "progress": dict(self.progress),
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "errorMessage": self.error_message,
            "scheduledFor": self.scheduled_for,
            "updatedAt": self.updated_at,
        }

    @property
    def channels(self) -> tuple[str, str]:
        return job_channel(self.job_id), agent_channel(self.agent_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in {"completed", "failed", "cancelled"}
