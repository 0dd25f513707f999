"""The relational schema of the store, as SQLAlchemy Core tables.

This module describes the schema; it never creates it. The database gets its schema
only from the Alembic migrations in ``migrations/``, and a test checks that the
migrated schema and these tables agree (``alembic.autogenerate.compare_metadata``).

The ``jobs`` table keeps the seed's columns (SEED.md) and adds ours: ``agent_id`` for
tenant scoping and listing, ``locked_by`` / ``lease_expires_at`` for worker leases and
``version`` for compare-and-set saves. Columns the domain never leaves empty are NOT
NULL (the seed's DDL left them nullable).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware in UTC.

    PostgreSQL keeps the instant (TIMESTAMPTZ); SQLite keeps text and drops the
    offset, so every value is converted to UTC before it is written and tagged UTC
    when read. Naive datetimes are refused: guessing their zone would corrupt data.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; give it a timezone")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: one format, one zone keeps the order right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    # none_as_null: Python None is SQL NULL ("no result yet"), not the JSON literal null.
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

EMPTY_JSON = sa.text("'{}'")
NOW = sa.text("CURRENT_TIMESTAMP")

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text()),
    sa.Column("namespace", sa.String(100), nullable=False, unique=True),
    sa.Column("settings", json_type(), nullable=False, server_default=EMPTY_JSON),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Index("ix_agents_created_at_id", "created_at", "id"),
)

data_sources = sa.Table(
    "data_sources",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
    sa.Column("options", json_type(), nullable=False, server_default=EMPTY_JSON),
    sa.Column("blob_key", sa.Text()),
    sa.Column("content_type", sa.String(255)),
    sa.Column("size_bytes", sa.BigInteger()),
    sa.Column("url", sa.Text()),
    sa.Column("chunk_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error_message", sa.Text()),
    # No foreign key: a source and its latest job are written in either order, and
    # cleaning up old jobs must not be blocked by the source still pointing at one.
    sa.Column("latest_job_id", sa.Uuid()),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Index("ix_data_sources_agent_id_created_at_id", "agent_id", "created_at", "id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("data_source_id", sa.Uuid(), sa.ForeignKey("data_sources.id", ondelete="CASCADE"), nullable=False),
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
    sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("progress", json_type(), nullable=False, server_default=EMPTY_JSON),
    sa.Column("result", json_type()),
    sa.Column("error_message", sa.Text()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"),
    sa.Column("scheduled_for", UtcDateTime()),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("locked_by", sa.String(200)),
    sa.Column("lease_expires_at", UtcDateTime()),
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
)

# Listing an agent's jobs, newest first, and a source's jobs.
sa.Index("ix_jobs_agent_id_created_at_id", jobs.c.agent_id, jobs.c.created_at, jobs.c.id)
sa.Index("ix_jobs_data_source_id_created_at", jobs.c.data_source_id, jobs.c.created_at)
# Dispatch order of pending jobs. Partial: the pending jobs are few among all the
# finished ones kept for history. Queries must spell ``status = 'pending'`` as a
# literal (not a bound parameter) for the planners to match the index predicate.
IS_PENDING = jobs.c.status == sa.literal_column("'pending'")
sa.Index(
    "ix_jobs_pending_dispatch",
    jobs.c.priority.desc(),
    sa.func.coalesce(jobs.c.scheduled_for, jobs.c.created_at),
    jobs.c.created_at,
    postgresql_where=IS_PENDING,
    sqlite_where=IS_PENDING,
)
# Reclaiming jobs whose worker stopped renewing its lease.
sa.Index("ix_jobs_status_lease_expires_at", jobs.c.status, jobs.c.lease_expires_at)
# Deleting finished jobs past their retention.
sa.Index("ix_jobs_status_completed_at", jobs.c.status, jobs.c.completed_at)

# -- webhooks ----------------------------------------------------------------------------------
# Their own tables rather than keys in ``agents.settings``: the signing secret stays out of
# a general-purpose JSON bag, columns are typed and bounded, a PUT is one row write that
# races with no other writer of the agent, and the outbox writer reads one row by key.

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", json_type(), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    # No foreign key: the announcement of a job's end outlives the job (a deleted
    # source's cancelled jobs, jobs cleaned up before their delivery is pruned).
    sa.Column("job_id", sa.Uuid(), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("payload", json_type(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("last_error", sa.Text()),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("locked_by", sa.String(200)),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
)

# Deliveries to send. Partial, like the pending-jobs index: open deliveries are few
# among the finished ones; queries spell the predicate with literals to match it.
_status = webhook_deliveries.c.status
IS_OPEN_DELIVERY = sa.or_(_status == sa.literal_column("'pending'"), _status == sa.literal_column("'sending'"))
sa.Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=IS_OPEN_DELIVERY,
    sqlite_where=IS_OPEN_DELIVERY,
)
# An agent's deliveries, newest first; pruning finished ones past their retention.
sa.Index(
    "ix_webhook_deliveries_agent_id_created_at_id",
    webhook_deliveries.c.agent_id,
    webhook_deliveries.c.created_at,
    webhook_deliveries.c.id,
)
sa.Index("ix_webhook_deliveries_status_finished_at", webhook_deliveries.c.status, webhook_deliveries.c.finished_at)

# -- access and idempotency ---------------------------------------------------------------------
# An API key is kept only as its SHA-256 (unique: the lookup of every request). An
# idempotency record goes with its agent and with the source it created.

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("source_id", sa.Uuid(), sa.ForeignKey("data_sources.id", ondelete="CASCADE"), nullable=False, index=True),
    # No foreign key: jobs are cleaned up on their own schedule.
    sa.Column("job_id", sa.Uuid(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, server_default=NOW, index=True),
)
