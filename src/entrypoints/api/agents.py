"""Agents."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.pagination import PageRequest
from domain.services.access import AccessService
from domain.services.agents import AgentService
from entrypoints.api.keys import AgentCreated
from entrypoints.api.schemas import AgentCreate, AgentOut, Deleted, Ok, OkPage, page_of


class AgentController(Controller):
    path = "/api/agents"
    tags = ["agents"]

    @post("/", summary="Create an agent; the answer holds its API key (shown only this once)")
    async def create_agent(
        self, data: JSONBody[AgentCreate], agents: NamedDependency[AgentService], access: NamedDependency[AccessService]
    ) -> Ok[AgentCreated]:
        agent = agents.new_agent(data.name, description=data.description)
        key = await access.create_agent(agent)
        return Ok(data=AgentCreated.created(agent, key))

    @get("/", summary="List agents, newest first")
    async def list_agents(
        self,
        agents: NamedDependency[AgentService],
        limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OkPage[AgentOut]:
        request = PageRequest.parse(limit, cursor)
        return page_of(await agents.list_agents(request), request.limit, AgentOut.of)

    @get("/{agent_id:uuid}", summary="An agent with its counts (sources, chunks, vectors, jobs by status)")
    async def get_agent(self, agent_id: FromPath[uuid.UUID], agents: NamedDependency[AgentService]) -> Ok[AgentOut]:
        agent = await agents.get_agent(agent_id)
        return Ok(data=AgentOut.of(agent, await agents.stats(agent)))

    @delete("/{agent_id:uuid}", status_code=200, summary="Delete an agent with its sources, jobs and vectors")
    async def delete_agent(self, agent_id: FromPath[uuid.UUID], agents: NamedDependency[AgentService]) -> Ok[Deleted]:
        await agents.delete_agent(agent_id)
        return Ok(data=Deleted(id=agent_id))
