"""The store's Alembic migrations, and running them from code.

This folder is Alembic's script location (``env.py``, ``versions/``).

No ``alembic.ini``: the configuration is built here, so ``sluice migrate``, the
embedded ``sluice serve`` and the tests all migrate the same way::

    upgrade("sqlite+aiosqlite:///data/sluice.db")            # from synchronous code
    await upgrade_async("postgresql+asyncpg://.../sluice")   # inside an event loop
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from adapters.sqlalchemy.engine import EngineSettings, create_engine
from adapters.sqlalchemy.errors import translate_errors

MIGRATIONS = Path(__file__).parent
# Serialises concurrent migrations on PostgreSQL (several workers starting at once).
# SQLite needs nothing: the migration's BEGIN IMMEDIATE already excludes other writers.
_ADVISORY_LOCK_KEY = 0x51_75_1C_E0


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for Sluice's migrations, without any ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%'; escape it so encoded passwords survive.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_async(url: str, revision: str = "head", settings: EngineSettings | None = None) -> None:
    """Migrate the database at ``url`` to ``revision``, in one transaction.

    Raises ``StoreUnavailable`` when the database cannot be reached, ``StoreError``
    when a migration fails (nothing is then changed).
    """
    config = alembic_config()
    with translate_errors():
        engine = create_engine(url, settings)
        try:
            async with engine.connect() as connection:
                await connection.begin()
                if connection.dialect.name == "postgresql":
                    await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                await connection.run_sync(_upgrade, config, revision)
                await connection.commit()
        finally:
            await engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous ``upgrade_async`` for command lines; not callable inside an event loop."""
    asyncio.run(upgrade_async(url, revision))


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    # env.py runs the migrations on this connection, inside our transaction.
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def head_revision() -> str | None:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(url: str) -> str | None:
    """The migration the database at ``url`` is at (None: never migrated)."""
    from alembic.migration import MigrationContext

    with translate_errors():
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
        finally:
            await engine.dispose()
