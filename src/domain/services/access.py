"""Use cases of access: who is calling, and issuing or rotating an agent's key.

Authentication is off when no admin key is configured (the embedded, loopback-only
mode): every caller is then ``OPEN`` and may do everything. With an admin key, a request
carries either that key (admin) or an agent's key (that agent only); anything else is
refused with ``Unauthenticated``.
"""

from __future__ import annotations

import uuid

from domain.access import ADMIN, KEY_PREFIX, OPEN, ApiKey, Principal, Role, hash_api_key, same_secret
from domain.agents import Agent
from domain.errors import NotFound, Unauthenticated
from domain.services.deps import Ports

# A token longer than this is not one of ours: refuse it before hashing megabytes.
MAX_TOKEN_LENGTH = 512


class AccessService:
    def __init__(self, ports: Ports, admin_key: str | None) -> None:
        self._ports = ports
        self._admin_key = admin_key

    @property
    def enabled(self) -> bool:
        return self._admin_key is not None

    async def authenticate(self, token: str | None) -> Principal:
        """The caller behind ``token`` (a bearer token); raises Unauthenticated."""
        if self._admin_key is None:
            return OPEN
        if not token:
            raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
        if len(token) <= MAX_TOKEN_LENGTH:
            if same_secret(token, self._admin_key):
                return ADMIN
            if token.startswith(KEY_PREFIX):
                async with self._ports.store.unit_of_work(read_only=True) as uow:
                    key = await uow.api_keys.find(hash_api_key(token))
                if key is not None:
                    return Principal(Role.AGENT, agent_id=key.agent_id)
        raise Unauthenticated("the API key is not valid (unknown, rotated, or its agent was deleted)")

    async def create_agent(self, agent: Agent) -> str:
        """Store a new agent together with its first key; the key, to show once."""
        record, key = ApiKey.issue(agent.id, self._ports.clock.now())
        async with self._ports.store.unit_of_work() as uow:
            await uow.agents.add(agent)
            await uow.api_keys.add(record)
            await uow.commit()
        return key

    async def rotate_key(self, agent_id: uuid.UUID) -> tuple[ApiKey, str]:
        """A new key for the agent; its previous keys stop working at once."""
        record, key = ApiKey.issue(agent_id, self._ports.clock.now())
        async with self._ports.store.unit_of_work() as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            await uow.api_keys.delete_for_agent(agent_id)
            await uow.api_keys.add(record)
            await uow.commit()
        return record, key
