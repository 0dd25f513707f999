"""Alembic environment of the Sluice store.

Sluice runs migrations programmatically (``adapters.sqlalchemy.migrations.upgrade``),
which hands over an open connection in ``config.attributes["connection"]``. Without
one (a developer running ``alembic`` against a ``sqlalchemy.url``), this module builds
the same async engine as the store and runs the migrations through ``run_sync``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.tables import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_migrations(shared)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: set sqlalchemy.url or use adapters.sqlalchemy.migrations")
    asyncio.run(run_async_migrations(url))
