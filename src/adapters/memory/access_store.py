"""API keys and idempotency records of the in-memory store (see ``store.py`` for the rules).

Same contract as the SQL repositories: a key's hash is unique, an idempotency record is
unique per (agent, key) — checked when staged and again at commit against what others
committed meanwhile, as a unique index would — and both need their agent (and the
record its source).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from adapters.memory.store import MemoryUnitOfWork, _copy, _stored, _Tables
from domain.access import ApiKey
from domain.idempotency import IdempotencyRecord
from ports.store import DuplicateKey, StoreError


class MemoryApiKeyRepository:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, key: ApiKey) -> None:
        self._uow.ensure_writable()
        row = _stored(key)
        _check_key(row, list(self._uow.all_api_keys()), self._uow.agent(row.agent_id) is not None)
        self._uow.staged.api_keys[row.id] = row

        def insert(tables: _Tables) -> None:
            _check_key(row, list(tables.api_keys.values()), row.agent_id in tables.agents)
            tables.api_keys[row.id] = row

        self._uow.stage(insert)

    async def find(self, key_hash: str) -> ApiKey | None:
        self._uow.ensure_open()
        return _copy(next((k for k in self._uow.all_api_keys() if k.key_hash == key_hash), None))

    async def delete_for_agent(self, agent_id: uuid.UUID) -> int:
        self._uow.ensure_writable()
        ids = [k.id for k in self._uow.all_api_keys() if k.agent_id == agent_id]
        for key_id in ids:
            self._uow.staged.api_keys[key_id] = None

        def delete(tables: _Tables) -> None:
            for key_id in ids:
                tables.api_keys.pop(key_id, None)

        self._uow.stage(delete)
        return len(ids)


class MemoryIdempotencyRepository:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, agent_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        self._uow.ensure_open()
        return _copy(self._uow.idempotency_record((agent_id, key)))

    async def add(self, record: IdempotencyRecord) -> None:
        self._uow.ensure_writable()
        row = _stored(record)
        ident = (row.agent_id, row.key)
        source = self._uow.source(row.source_id)
        _check_record(row, self._uow.idempotency_record(ident), self._uow.agent(row.agent_id) is not None, source)
        self._uow.staged.idempotency[ident] = row

        def insert(tables: _Tables) -> None:
            agent_exists = row.agent_id in tables.agents
            _check_record(row, tables.idempotency.get(ident), agent_exists, tables.sources.get(row.source_id))
            tables.idempotency[ident] = row

        self._uow.stage(insert)

    async def delete(self, agent_id: uuid.UUID, key: str) -> bool:
        self._uow.ensure_writable()
        ident = (agent_id, key)
        if self._uow.idempotency_record(ident) is None:
            return False
        self._uow.staged.idempotency[ident] = None

        def delete(tables: _Tables) -> None:
            tables.idempotency.pop(ident, None)

        self._uow.stage(delete)
        return True

    async def delete_created_before(self, cutoff: datetime, *, limit: int) -> int:
        self._uow.ensure_writable()
        doomed = sorted(
            (r for r in self._uow.all_idempotency_records() if r.created_at < cutoff), key=lambda r: r.created_at
        )[:limit]
        idents = [(r.agent_id, r.key) for r in doomed]
        for ident in idents:
            self._uow.staged.idempotency[ident] = None

        def delete(tables: _Tables) -> None:
            for ident in idents:
                stored = tables.idempotency.get(ident)
                if stored is not None and stored.created_at < cutoff:
                    del tables.idempotency[ident]

        self._uow.stage(delete)
        return len(idents)


def _check_key(row: ApiKey, existing: list[ApiKey], agent_exists: bool) -> None:
    if any(k.id == row.id or k.key_hash == row.key_hash for k in existing):
        raise DuplicateKey(f"api key {row.id} already exists")
    if not agent_exists:
        raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")


def _check_record(
    row: IdempotencyRecord, existing: IdempotencyRecord | None, agent_exists: bool, source: object
) -> None:
    if existing is not None:
        raise DuplicateKey(f"idempotency key {row.key!r} of agent {row.agent_id} already exists")
    if not agent_exists:
        raise StoreError(f"constraint violated: agent {row.agent_id} does not exist")
    if source is None:
        raise StoreError(f"constraint violated: source {row.source_id} does not exist")
