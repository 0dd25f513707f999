"""An agent's API key: issued with the agent, shown once, rotated on demand."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from domain.agents import Agent
from domain.services.access import AccessService
from entrypoints.api.schemas import AgentOut, Camel, Ok


class AgentCreated(AgentOut, kw_only=True):
    """The answer to creating an agent: the only time its first key is shown."""

    api_key: str

    @classmethod
    def created(cls, agent: Agent, key: str) -> AgentCreated:
        out = AgentOut.of(agent)
        return cls(**{f: getattr(out, f) for f in AgentOut.__struct_fields__}, api_key=key)


class RotatedKey(Camel, kw_only=True):
    agent_id: uuid.UUID
    api_key: str
    created_at: datetime


class KeyController(Controller):
    path = "/api/agents/{agent_id:uuid}/keys"
    tags = ["agents"]

    @post(
        "/rotate",
        status_code=200,
        summary="A new API key for the agent (shown once); the previous key stops working at once",
    )
    async def rotate_key(self, agent_id: FromPath[uuid.UUID], access: NamedDependency[AccessService]) -> Ok[RotatedKey]:
        record, key = await access.rotate_key(agent_id)
        return Ok(data=RotatedKey(agent_id=agent_id, api_key=key, created_at=record.created_at))
