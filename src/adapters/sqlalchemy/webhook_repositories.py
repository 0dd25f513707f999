"""Webhooks and webhook deliveries on SQLAlchemy Core (the rules: ``ports.store``).

``deliveries.save`` is a compare-and-set on ``version``, as ``jobs.save`` is. Claiming
(``due(lock=True)``) selects ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
claimers take disjoint batches without waiting on each other; SQLite has no row locks and
needs none: a writing unit of work holds the database's single write lock.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from adapters.sqlalchemy.repositories import Executor, _by_id, _convert, _page
from adapters.sqlalchemy.tables import IS_OPEN_DELIVERY, webhook_deliveries, webhooks
from domain.errors import StaleDelivery
from domain.pagination import Page, PageRequest
from domain.webhooks import FINISHED_DELIVERY_STATUSES, DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent

_deliveries = webhook_deliveries
_GET_WEBHOOK = _by_id(webhooks, "agent_id")


class SqlAlchemyWebhookRepository:
    """One webhook per agent in the ``webhooks`` table."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def get(self, agent_id: uuid.UUID) -> Webhook | None:
        # Read with every job outcome (the outbox): a statement built once (see repositories).
        row = (await self._db.execute(_GET_WEBHOOK, {"k_id": agent_id})).mappings().first()
        return None if row is None else _convert(_webhook, row)

    async def put(self, webhook: Webhook) -> None:
        self._db.ensure_writable()
        values = _webhook_values(webhook)
        # Update, else insert: portable across both databases. Two first PUTs racing on
        # PostgreSQL may both insert; the loser raises DuplicateKey and its caller retries.
        changed = {k: v for k, v in values.items() if k != "agent_id"}
        result = await self._db.execute(
            webhooks.update().where(webhooks.c.agent_id == webhook.agent_id).values(changed)
        )
        if result.rowcount == 0:
            await self._db.execute(webhooks.insert().values(values))

    async def delete(self, agent_id: uuid.UUID) -> bool:
        self._db.ensure_writable()
        result = await self._db.execute(webhooks.delete().where(webhooks.c.agent_id == agent_id))
        return result.rowcount > 0


class SqlAlchemyDeliveryRepository:
    """The webhook outbox in the ``webhook_deliveries`` table."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def add(self, delivery: WebhookDelivery) -> None:
        self._db.ensure_writable()
        await self._db.execute(_deliveries.insert().values(_delivery_values(delivery)))

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        statement = sa.select(_deliveries).where(_deliveries.c.id == delivery_id)
        row = (await self._db.execute(statement)).mappings().first()
        return None if row is None else _convert(_delivery, row)

    async def save(self, delivery: WebhookDelivery) -> None:
        self._db.ensure_writable()
        values = _delivery_values(delivery)
        for key in ("id", "agent_id", "job_id", "created_at"):
            del values[key]
        values["version"] = _deliveries.c.version + 1
        statement = (
            _deliveries.update()
            .where(_deliveries.c.id == delivery.id, _deliveries.c.version == delivery.version)
            .values(values)
        )
        if (await self._db.execute(statement)).rowcount != 1:
            raise StaleDelivery(delivery.id)
        delivery.version += 1

    async def due(self, now: datetime, *, limit: int, lock: bool = False) -> builtins.list[WebhookDelivery]:
        statement = (
            sa.select(_deliveries)
            .where(IS_OPEN_DELIVERY, _deliveries.c.next_attempt_at <= now)
            .order_by(_deliveries.c.next_attempt_at.asc(), _deliveries.c.id.asc())
            .limit(limit)
        )
        if lock:
            self._db.ensure_writable()
            statement = statement.with_for_update(skip_locked=True)
        rows = (await self._db.execute(statement)).mappings().all()
        return [_convert(_delivery, row) for row in rows]

    async def list(
        self, agent_id: uuid.UUID, page: PageRequest, *, status: DeliveryStatus | None = None
    ) -> Page[WebhookDelivery]:
        condition = _deliveries.c.agent_id == agent_id
        if status is not None:
            condition &= _deliveries.c.status == DeliveryStatus(status).value
        return await _page(self._db, _deliveries, condition, page, _delivery)

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        self._db.ensure_writable()
        doomed = (
            sa.select(_deliveries.c.id)
            .where(
                _deliveries.c.status.in_(sorted(s.value for s in FINISHED_DELIVERY_STATUSES)),
                _deliveries.c.finished_at < cutoff,
            )
            .order_by(_deliveries.c.finished_at.asc())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._db.execute(_deliveries.delete().where(_deliveries.c.id.in_(doomed.scalar_subquery())))
        return int(result.rowcount)


# -- rows <-> domain objects ----------------------------------------------------------------


def _webhook_values(webhook: Webhook) -> dict[str, Any]:
    return {
        "agent_id": webhook.agent_id,
        "url": webhook.url,
        "events": [WebhookEvent(e).value for e in webhook.events],
        "secret": webhook.secret,
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
    }


def _webhook(row: RowMapping) -> Webhook:
    return Webhook(
        agent_id=row["agent_id"],
        url=row["url"],
        events=tuple(WebhookEvent(e) for e in row["events"]),
        secret=row["secret"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _delivery_values(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "agent_id": delivery.agent_id,
        "job_id": delivery.job_id,
        "event": WebhookEvent(delivery.event).value,
        "payload": delivery.payload,
        "status": DeliveryStatus(delivery.status).value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_error": delivery.last_error,
        "last_status_code": delivery.last_status_code,
        "locked_by": delivery.locked_by,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "finished_at": delivery.finished_at,
        "version": delivery.version,
    }


def _delivery(row: RowMapping) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        agent_id=row["agent_id"],
        job_id=row["job_id"],
        event=WebhookEvent(row["event"]),
        payload=dict(row["payload"] or {}),
        status=DeliveryStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_attempt_at=row["next_attempt_at"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        last_status_code=row["last_status_code"],
        locked_by=row["locked_by"],
        finished_at=row["finished_at"],
        version=row["version"],
    )
