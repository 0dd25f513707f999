"""Agents: the tenants of Sluice. Each owns its sources, jobs and one vector namespace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import InvalidInput

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000


def namespace_for(agent_id: uuid.UUID) -> str:
    """The vector namespace of an agent. Derived by the server, never chosen by a caller."""
    return f"agent-{agent_id}"


def clean_name(value: str, *, what: str = "name", limit: int = MAX_NAME_LENGTH) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput(f"{what} must not be empty")
    if len(name) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return name


@dataclass(slots=True)
class Agent:
    id: uuid.UUID
    name: str
    namespace: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, *, name: str, now: datetime, description: str | None = None) -> Agent:
        agent_id = uuid.uuid4()
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput(f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")
        return cls(
            id=agent_id,
            name=clean_name(name),
            namespace=namespace_for(agent_id),
            created_at=now,
            updated_at=now,
            description=description,
        )


@dataclass(frozen=True, slots=True)
class AgentStats:
    """What an agent holds: counted by the store and the vector index."""

    sources: int
    jobs_by_status: dict[str, int]
    vectors: int
    chunks: int
