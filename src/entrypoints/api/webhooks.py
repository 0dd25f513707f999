"""An agent's webhook: set (answers with the signing secret), read, remove, deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.pagination import PageRequest
from domain.services.webhooks import WebhookService
from domain.webhooks import MAX_URL_LENGTH, DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from entrypoints.api.schemas import Camel, Deleted, Ok, OkPage, page_of

EventName = Literal["completed", "failed", "cancelled"]


class WebhookPut(Camel, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_LENGTH)]
    events: Annotated[list[EventName], msgspec.Meta(min_length=1, max_length=10)] | None = None


class WebhookOut(Camel, kw_only=True):
    agent_id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            agent_id=webhook.agent_id,
            url=webhook.url,
            events=[e.value for e in webhook.events],
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
        )


class WebhookWithSecret(WebhookOut, kw_only=True):
    """Only the answer to PUT carries the secret."""

    secret: str

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookWithSecret:
        out = WebhookOut.of(webhook)
        return cls(**{f: getattr(out, f) for f in WebhookOut.__struct_fields__}, secret=webhook.secret)


class DeliveryOut(Camel, kw_only=True):
    id: uuid.UUID
    job_id: uuid.UUID
    event: str
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery, max_attempts: int) -> DeliveryOut:
        return cls(
            id=delivery.id,
            job_id=delivery.job_id,
            event=delivery.event.wire_name,
            status=delivery.status.value,
            attempts=delivery.attempts,
            max_attempts=max_attempts,
            next_attempt_at=None if delivery.is_finished else delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
            finished_at=delivery.finished_at,
        )


class WebhookController(Controller):
    path = "/api/agents/{agent_id:uuid}/webhook"
    tags = ["webhooks"]

    @put("/", summary="Set the agent's webhook; the answer holds a new signing secret")
    async def set_webhook(
        self, agent_id: FromPath[uuid.UUID], data: JSONBody[WebhookPut], webhooks: NamedDependency[WebhookService]
    ) -> Ok[WebhookWithSecret]:
        events = None if data.events is None else [WebhookEvent(e) for e in data.events]
        webhook = await webhooks.set_webhook(agent_id, data.url, events=events)
        return Ok(data=WebhookWithSecret.of(webhook))

    @get("/", summary="The agent's webhook (without its secret)")
    async def get_webhook(
        self, agent_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]
    ) -> Ok[WebhookOut]:
        return Ok(data=WebhookOut.of(await webhooks.get_webhook(agent_id)))

    @delete("/", status_code=200, summary="Remove the agent's webhook")
    async def delete_webhook(
        self, agent_id: FromPath[uuid.UUID], webhooks: NamedDependency[WebhookService]
    ) -> Ok[Deleted]:
        await webhooks.delete_webhook(agent_id)
        return Ok(data=Deleted(id=agent_id))

    @get("/deliveries", summary="The webhook's deliveries, newest first")
    async def list_deliveries(
        self,
        agent_id: FromPath[uuid.UUID],
        webhooks: NamedDependency[WebhookService],
        status: Annotated[
            DeliveryStatus | None, QueryParameter(description="pending, sending, delivered or failed")
        ] = None,
        limit: Annotated[int | None, QueryParameter(ge=1, le=200)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OkPage[DeliveryOut]:
        request = PageRequest.parse(limit, cursor)
        page = await webhooks.list_deliveries(agent_id, request, status=status)
        return page_of(page, request.limit, lambda d: DeliveryOut.of(d, webhooks.max_attempts))
