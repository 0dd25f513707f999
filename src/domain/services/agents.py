"""Use cases on agents: create, read with counts, list, delete everything they own."""

from __future__ import annotations

import uuid

from domain.agents import Agent, AgentStats, clean_name
from domain.errors import LimitExceeded, NotFound
from domain.pagination import Page, PageRequest
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import cancel_active_jobs


class AgentService:
    def __init__(self, ports: Ports, config: ServiceConfig) -> None:
        self._ports = ports
        self._config = config

    async def create_agent(self, name: str, *, description: str | None = None) -> Agent:
        agent = self.new_agent(name, description=description)
        async with self._ports.store.unit_of_work() as uow:
            await uow.agents.add(agent)
            await uow.commit()
        return agent

    def new_agent(self, name: str, *, description: str | None = None) -> Agent:
        """An agent not stored yet, its name checked against ``MAX_NAME_CHARS``."""
        check_name(clean_name(name), self._config.limits.max_name_chars)
        return Agent.new(name=name, description=description, now=self._ports.clock.now())

    async def get_agent(self, agent_id: uuid.UUID) -> Agent:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            agent = await uow.agents.get(agent_id)
        if agent is None:
            raise NotFound("agent", agent_id)
        return agent

    async def stats(self, agent: Agent) -> AgentStats:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            sources, chunks = await uow.sources.count(agent.id)
            by_status = await uow.jobs.count_by_status(agent.id)
        vectors = await self._ports.vectors.count(agent.namespace)
        return AgentStats(sources=sources, jobs_by_status=by_status, vectors=vectors, chunks=chunks)

    async def list_agents(self, page: PageRequest) -> Page[Agent]:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            return await uow.agents.list(page)

    async def delete_agent(self, agent_id: uuid.UUID) -> None:
        """Cancel its jobs, drop its vectors and files, then the records (cascade)."""
        agent = await self.get_agent(agent_id)
        blob_keys: list[str] = []
        cursor = None
        while True:
            async with self._ports.store.unit_of_work(read_only=True) as uow:
                page = await uow.sources.list(agent.id, PageRequest(limit=200, cursor=cursor))
            for source in page.items:
                await cancel_active_jobs(self._ports, source.id)
                if source.blob_key:
                    blob_keys.append(source.blob_key)
            if page.next_cursor is None:
                break
            cursor = PageRequest.parse(200, page.next_cursor).cursor
        await self._ports.vectors.delete_namespace(agent.namespace)
        for key in blob_keys:
            await self._ports.blobs.delete(key)
        async with self._ports.store.unit_of_work() as uow:
            await uow.agents.delete(agent.id)
            await uow.commit()


def check_name(name: str, limit: int) -> None:
    """Refuse a name over ``MAX_NAME_CHARS`` (agents and sources alike)."""
    if len(name) > limit:
        raise LimitExceeded("max_name_chars", f"name is {len(name)} characters; the limit is {limit} (MAX_NAME_CHARS)")
