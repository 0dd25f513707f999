"""The store on SQLAlchemy 2 (async Core): SQLite for the embedded mode, PostgreSQL in production.

A unit of work is one pooled connection and one database transaction, begun by the
first statement and ended by ``commit()``, ``rollback()`` or leaving the ``async with``
block (which rolls back whatever was not committed). After ``commit()`` the unit of
work may go on: the next statement begins a new transaction.

On PostgreSQL a read-only unit of work runs its statements in autocommit mode: under
READ COMMITTED each statement sees its own snapshot anyway, so a transaction would only
add BEGIN and ROLLBACK round trips (writes are refused by the repositories). When the
first statement of a unit of work finds its pooled connection dead (a server restart,
a killed session), nothing has run yet: the unit of work starts over on a new one.

On SQLite a writing unit of work holds the database's single write lock from its first
statement to its end (``BEGIN IMMEDIATE``); keep it short, and do not open a second
writing unit of work while holding one in the same task: it would wait for the first
until ``busy_timeout`` and then fail with ``StoreUnavailable``.

The schema comes from the Alembic migrations (``adapters.sqlalchemy.migrations.upgrade``).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.access_repositories import SqlAlchemyApiKeyRepository, SqlAlchemyIdempotencyRepository
from adapters.sqlalchemy.engine import READ_ONLY, EngineSettings, create_engine
from adapters.sqlalchemy.errors import translate, translate_errors
from adapters.sqlalchemy.repositories import (
    SqlAlchemyAgentRepository,
    SqlAlchemyJobRepository,
    SqlAlchemySourceRepository,
)
from adapters.sqlalchemy.webhook_repositories import SqlAlchemyDeliveryRepository, SqlAlchemyWebhookRepository
from ports.store import (
    AgentRepository,
    ApiKeyRepository,
    DeliveryRepository,
    IdempotencyRepository,
    JobRepository,
    SourceRepository,
    StoreError,
    WebhookRepository,
)


class SqlAlchemyStore:
    """A ``Store`` on one SQLAlchemy async engine (and its connection pool).

    ``url`` is ``sqlite+aiosqlite:///path/to/sluice.db`` (the folder is created when
    missing) or ``postgresql+asyncpg://user:password@host:5432/dbname``.
    """

    def __init__(self, url: str, settings: EngineSettings | None = None) -> None:
        self._engine = create_engine(url, settings)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def unit_of_work(self, *, read_only: bool = False) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._engine, read_only=read_only)

    async def ping(self) -> None:
        async with self.unit_of_work(read_only=True) as uow:
            await uow.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        with translate_errors():
            await self._engine.dispose()


class SqlAlchemyUnitOfWork:
    """One connection, one transaction at a time; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: AsyncConnection | None = None
        # No statement has run on the connection yet: a dead one may be replaced.
        self._fresh = False
        # Typed as the port's protocols: UnitOfWork declares these attributes so.
        self.agents: AgentRepository = SqlAlchemyAgentRepository(self)
        self.sources: SourceRepository = SqlAlchemySourceRepository(self)
        self.jobs: JobRepository = SqlAlchemyJobRepository(self)
        self.webhooks: WebhookRepository = SqlAlchemyWebhookRepository(self)
        self.deliveries: DeliveryRepository = SqlAlchemyDeliveryRepository(self)
        self.api_keys: ApiKeyRepository = SqlAlchemyApiKeyRepository(self)
        self.idempotency: IdempotencyRepository = SqlAlchemyIdempotencyRepository(self)

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        if self._connection is not None:
            raise StoreError("this unit of work is already open")
        self._connection = await self._connect()
        self._fresh = True
        return self

    async def _connect(self) -> AsyncConnection:
        with translate_errors():
            connection = await self._engine.connect()
            try:
                if self._read_only:
                    options: dict[str, Any] = {READ_ONLY: True}
                    if self._engine.dialect.name == "postgresql":
                        options["isolation_level"] = "AUTOCOMMIT"
                    await connection.execution_options(**options)
            except BaseException:
                await connection.close()
                raise
        return connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # Shielded: a task cancelled while leaving must still hand its connection back
        # (rolled back) instead of leaking it half-way through a transaction.
        error = await asyncio.shield(_release(connection))
        if error is not None and exc is None:
            raise translate(error) from error

    async def commit(self) -> None:
        with translate_errors():
            await self._open().commit()

    async def rollback(self) -> None:
        with translate_errors():
            await self._open().rollback()

    # -- Executor, for the repositories ------------------------------------------------

    async def execute(
        self, statement: sa.Executable, params: dict[str, Any] | None = None
    ) -> CursorResult[*tuple[Any, ...]]:
        connection = self._open()
        with translate_errors():
            if not self._fresh:
                return await connection.execute(statement, params)
            try:
                result = await connection.execute(statement, params)
            except sa_exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The pooled connection died while idle and nothing ran on it yet (its
                # invalidation also retired the pool's other connections that old).
                self._connection = None
                await asyncio.shield(_release(connection))
                self._connection = connection = await self._connect()
                result = await connection.execute(statement, params)
            self._fresh = False
            return result

    def ensure_writable(self) -> None:
        if self._read_only:
            raise StoreError("this unit of work is read-only")

    def _open(self) -> AsyncConnection:
        if self._connection is None:
            raise StoreError("unit of work used outside its 'async with' block")
        return self._connection


async def _release(connection: AsyncConnection) -> Exception | None:
    """Roll back what was not committed and return the connection to the pool."""
    try:
        if connection.in_transaction():
            await connection.rollback()
        await connection.close()
    except Exception as error:
        # The connection is broken (server gone, cancelled mid-statement): make sure
        # the pool never hands it out again.
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()
        return error
    return None
