"""Use cases on an agent's webhook: set (with a fresh secret), read, remove, deliveries."""

from __future__ import annotations

import uuid

from domain.errors import NotFound
from domain.pagination import Page, PageRequest
from domain.services.deps import Ports, ServiceConfig
from domain.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent


def _missing(agent_id: uuid.UUID) -> NotFound:
    return NotFound("webhook", f"of agent {agent_id}")


class WebhookService:
    def __init__(self, ports: Ports, config: ServiceConfig) -> None:
        self._ports = ports
        self._options = config.webhooks

    async def set_webhook(self, agent_id: uuid.UUID, url: str, *, events: list[WebhookEvent] | None = None) -> Webhook:
        """Create or replace the agent's webhook. Every call generates a new signing
        secret (the answer is the only place it is shown): calling again rotates it."""
        now = self._ports.clock.now()
        async with self._ports.store.unit_of_work() as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            existing = await uow.webhooks.get(agent_id)
            webhook = Webhook.new(
                agent_id=agent_id,
                url=url,
                events=events,
                now=now,
                allow_private=self._options.allow_private_networks,
                created_at=None if existing is None else existing.created_at,
            )
            await uow.webhooks.put(webhook)
            await uow.commit()
        return webhook

    async def get_webhook(self, agent_id: uuid.UUID) -> Webhook:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            webhook = await uow.webhooks.get(agent_id)
        if webhook is None:
            raise _missing(agent_id)
        return webhook

    async def delete_webhook(self, agent_id: uuid.UUID) -> None:
        """Remove the webhook. Deliveries still waiting are given up when they fall due."""
        async with self._ports.store.unit_of_work() as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            if not await uow.webhooks.delete(agent_id):
                raise _missing(agent_id)
            await uow.commit()

    async def list_deliveries(
        self, agent_id: uuid.UUID, page: PageRequest, *, status: DeliveryStatus | None = None
    ) -> Page[WebhookDelivery]:
        async with self._ports.store.unit_of_work(read_only=True) as uow:
            if await uow.agents.get(agent_id) is None:
                raise NotFound("agent", agent_id)
            return await uow.deliveries.list(agent_id, page, status=status)

    @property
    def max_attempts(self) -> int:
        return self._options.max_attempts
