"""Webhooks and webhook deliveries of the in-memory store (see ``store.py`` for the rules).

Same contract as the SQL repositories: ``deliveries.save`` is a compare-and-set on
``version`` that locks the row until the unit of work ends, and ``due(lock=True)`` takes
the rows it returns without waiting, skipping those another unit of work holds, as
PostgreSQL's ``FOR UPDATE SKIP LOCKED`` does.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime

from adapters.memory.store import MemoryUnitOfWork, _copy, _copy_row, _page, _stored, _Tables
from domain.errors import StaleDelivery
from domain.pagination import Page, PageRequest
from domain.webhooks import (
    FINISHED_DELIVERY_STATUSES,
    OPEN_DELIVERY_STATUSES,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
)
from ports.store import DuplicateKey, StoreError


def _lock_key(delivery_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    return ("delivery", delivery_id)


class MemoryWebhookRepository:
    """One webhook per agent."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, agent_id: uuid.UUID) -> Webhook | None:
        self._uow.ensure_open()
        return _copy(self._uow.webhook(agent_id))

    async def put(self, webhook: Webhook) -> None:
        self._uow.ensure_writable()
        row = _stored(webhook)
        if self._uow.agent(row.agent_id) is None:
            raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")
        self._uow.staged.webhooks[row.agent_id] = row

        def upsert(tables: _Tables) -> None:
            if row.agent_id not in tables.agents:
                raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")
            tables.webhooks[row.agent_id] = row

        self._uow.stage(upsert)

    async def delete(self, agent_id: uuid.UUID) -> bool:
        self._uow.ensure_writable()
        if self._uow.webhook(agent_id) is None:
            return False
        self._uow.staged.webhooks[agent_id] = None

        def delete(tables: _Tables) -> None:
            tables.webhooks.pop(agent_id, None)

        self._uow.stage(delete)
        return True


class MemoryDeliveryRepository:
    """The webhook outbox; ``save`` is a compare-and-set on ``version``."""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, delivery: WebhookDelivery) -> None:
        self._uow.ensure_writable()
        row = _stored(delivery)
        _check_new(row, self._uow.delivery(row.id), self._uow.agent(row.agent_id) is not None)
        self._uow.staged.deliveries[row.id] = row

        def insert(tables: _Tables) -> None:
            _check_new(row, tables.deliveries.get(row.id), row.agent_id in tables.agents)
            tables.deliveries[row.id] = row

        self._uow.stage(insert)

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        self._uow.ensure_open()
        return _copy(self._uow.delivery(delivery_id))

    async def save(self, delivery: WebhookDelivery) -> None:
        self._uow.ensure_writable()
        await self._uow.lock_job(_lock_key(delivery.id))
        current = self._uow.delivery(delivery.id)
        if current is None or current.version != delivery.version:
            raise StaleDelivery(delivery.id)
        expected = delivery.version
        row = _stored(delivery)
        # What an UPDATE leaves alone: the row's owner, its job and its birth.
        row.agent_id, row.job_id, row.created_at = current.agent_id, current.job_id, current.created_at
        row.version = expected + 1

        def update(tables: _Tables) -> None:
            stored = tables.deliveries.get(row.id)
            if stored is None or stored.version != expected:
                raise StaleDelivery(row.id)
            tables.deliveries[row.id] = row

        self._uow.staged.deliveries[row.id] = row
        self._uow.stage(update)
        delivery.version = expected + 1

    async def due(self, now: datetime, *, limit: int, lock: bool = False) -> builtins.list[WebhookDelivery]:
        self._uow.ensure_writable() if lock else self._uow.ensure_open()
        candidates = sorted(
            (d for d in self._uow.all_deliveries() if d.status in OPEN_DELIVERY_STATUSES and d.next_attempt_at <= now),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        selected: builtins.list[WebhookDelivery] = []
        for delivery in candidates:
            if len(selected) >= limit:
                break
            if lock and not self._uow.try_lock(_lock_key(delivery.id)):
                continue  # another unit of work is claiming it: skip, do not wait
            selected.append(_copy_row(delivery))
        return selected

    async def list(
        self, agent_id: uuid.UUID, page: PageRequest, *, status: DeliveryStatus | None = None
    ) -> Page[WebhookDelivery]:
        self._uow.ensure_open()
        selected = (
            d for d in self._uow.all_deliveries() if d.agent_id == agent_id and (status is None or d.status == status)
        )
        return _page(selected, page)

    async def delete_finished_before(self, cutoff: datetime, *, limit: int) -> int:
        self._uow.ensure_writable()

        def finished(d: WebhookDelivery) -> bool:
            return d.status in FINISHED_DELIVERY_STATUSES and d.finished_at is not None and d.finished_at < cutoff

        doomed = sorted((d for d in self._uow.all_deliveries() if finished(d)), key=lambda d: (d.finished_at, d.id))
        ids = [d.id for d in doomed[:limit]]
        for delivery_id in ids:
            self._uow.staged.deliveries[delivery_id] = None

        def delete(tables: _Tables) -> None:
            for delivery_id in ids:
                stored = tables.deliveries.get(delivery_id)
                if stored is not None and finished(stored):
                    del tables.deliveries[delivery_id]

        self._uow.stage(delete)
        return len(ids)


def _check_new(row: WebhookDelivery, existing: WebhookDelivery | None, agent_exists: bool) -> None:
    if existing is not None:
        raise DuplicateKey(f"webhook delivery {row.id} already exists")
    if not agent_exists:
        raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")
