"""API keys and idempotency records on SQLAlchemy Core (the rules: ``ports.store``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from adapters.sqlalchemy.repositories import Executor, _convert
from adapters.sqlalchemy.tables import api_keys, idempotency_keys
from domain.access import ApiKey
from domain.idempotency import IdempotencyRecord


class SqlAlchemyApiKeyRepository:
    """Keys in the ``api_keys`` table, found by their hash."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def add(self, key: ApiKey) -> None:
        self._db.ensure_writable()
        await self._db.execute(
            api_keys.insert().values(id=key.id, agent_id=key.agent_id, key_hash=key.key_hash, created_at=key.created_at)
        )

    async def find(self, key_hash: str) -> ApiKey | None:
        statement = sa.select(api_keys).where(api_keys.c.key_hash == key_hash)
        row = (await self._db.execute(statement)).mappings().first()
        return None if row is None else _convert(_api_key, row)

    async def delete_for_agent(self, agent_id: uuid.UUID) -> int:
        self._db.ensure_writable()
        result = await self._db.execute(api_keys.delete().where(api_keys.c.agent_id == agent_id))
        return int(result.rowcount)


class SqlAlchemyIdempotencyRepository:
    """Records in the ``idempotency_keys`` table, keyed by (agent, key)."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    def _where(self, agent_id: uuid.UUID, key: str) -> sa.ColumnElement[bool]:
        return sa.and_(idempotency_keys.c.agent_id == agent_id, idempotency_keys.c.key == key)

    async def get(self, agent_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        statement = sa.select(idempotency_keys).where(self._where(agent_id, key))
        row = (await self._db.execute(statement)).mappings().first()
        return None if row is None else _convert(_record, row)

    async def add(self, record: IdempotencyRecord) -> None:
        self._db.ensure_writable()
        await self._db.execute(
            idempotency_keys.insert().values(
                agent_id=record.agent_id,
                key=record.key,
                request_hash=record.request_hash,
                source_id=record.source_id,
                job_id=record.job_id,
                created_at=record.created_at,
            )
        )

    async def delete(self, agent_id: uuid.UUID, key: str) -> bool:
        self._db.ensure_writable()
        result = await self._db.execute(idempotency_keys.delete().where(self._where(agent_id, key)))
        return result.rowcount > 0

    async def delete_created_before(self, cutoff: datetime, *, limit: int) -> int:
        self._db.ensure_writable()
        table = idempotency_keys
        doomed = (
            sa.select(table.c.agent_id, table.c.key)
            .where(table.c.created_at < cutoff)
            .order_by(table.c.created_at.asc())
            .limit(limit)
        )
        statement = table.delete().where(sa.tuple_(table.c.agent_id, table.c.key).in_(doomed))
        return int((await self._db.execute(statement)).rowcount)


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(id=row["id"], agent_id=row["agent_id"], key_hash=row["key_hash"], created_at=row["created_at"])


def _record(row: RowMapping) -> IdempotencyRecord:
    return IdempotencyRecord(
        agent_id=row["agent_id"],
        key=row["key"],
        request_hash=row["request_hash"],
        source_id=row["source_id"],
        job_id=row["job_id"],
        created_at=row["created_at"],
    )
