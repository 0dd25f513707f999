"""Build the async engine for a database URL, tuned for SQLite or PostgreSQL.

The store and the migrations both build their engine here, so a migration runs with
the same pragmas and transaction rules as the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ports.store import StoreError

# Execution option of a connection whose transaction only reads (see ``_begin_sqlite``).
READ_ONLY = "sluice_read_only"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Connection tuning; the defaults suit one service process."""

    # SQLite: how long a writer waits for another writer's lock before failing.
    busy_timeout_seconds: float = 10.0
    # PostgreSQL pool: connections kept, extra ones allowed under load, wait for one.
    # All 20 are kept: an extra (overflow) connection is closed as soon as it is handed
    # back while 10 others are idle, so a process serving more than 10 requests at once
    # opened a connection (a server process, its codecs, its prepares) every few
    # requests, and closed it again.
    pool_size: int = 20
    max_overflow: int = 0
    pool_timeout_seconds: float = 10.0
    # Replace connections periodically so server-side state and proxies stay fresh.
    pool_recycle_seconds: int = 1800
    connect_timeout_seconds: float = 5.0
    statement_timeout_seconds: float = 30.0
    application_name: str = "sluice"
    echo: bool = False


# Hosting providers hand out DATABASE_URLs without an async driver (or as postgres://).
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def parse_url(url: str) -> URL:
    """The URL with its async driver: ``postgres[ql]://`` and ``sqlite://`` get asyncpg / aiosqlite."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed if driver is None else parsed.set(drivername=driver)


def create_engine(url: str, settings: EngineSettings | None = None) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``."""
    settings = settings or EngineSettings()
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, settings)
    if backend == "postgresql":
        return _postgres_engine(parsed, settings)
    raise StoreError(f"unsupported database {parsed.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg")


def _sqlite_engine(url: URL, settings: EngineSettings) -> AsyncEngine:
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        # Every pooled connection would see its own empty database.
        raise StoreError("an in-memory SQLite database cannot be shared; use MemoryStore or a file path")
    if not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=settings.echo)
    busy_ms = int(settings.busy_timeout_seconds * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # sqlite3 would open transactions lazily, only before writes; we emit BEGIN
        # ourselves (``_begin_sqlite``) so that every unit of work is one transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL itself may have to wait for a lock.
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_sqlite(connection: Connection) -> None:
        # A deferred transaction that reads and then writes cannot wait for the write
        # lock (SQLite answers SQLITE_BUSY at once to avoid a deadlock), so writers take
        # the lock up front with IMMEDIATE and queue on busy_timeout instead. Readers
        # stay deferred: in WAL mode they never block anyone.
        mode = "DEFERRED" if connection.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL, settings: EngineSettings) -> AsyncEngine:
    return create_async_engine(
        url,
        echo=settings.echo,
        # No pre-ping: SQLAlchemy's costs three round trips per checkout (BEGIN, a
        # query, ROLLBACK). A unit of work instead starts over on a new connection when
        # its first statement finds the pooled one dead (``SqlAlchemyUnitOfWork``), and
        # the first dead connection found invalidates the rest of the pool.
        pool_pre_ping=False,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        pool_recycle=settings.pool_recycle_seconds,
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            "command_timeout": settings.statement_timeout_seconds,
            "server_settings": {
                "application_name": settings.application_name,
                # JIT compilation costs more than it saves on small OLTP queries.
                "jit": "off",
            },
        },
    )
