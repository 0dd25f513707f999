"""Agents, data sources and jobs.

Revision ID: 0001
Revises:
Create Date: 2025-01-15

The types are spelled out here instead of imported from ``tables.py``: a migration
must keep producing the same schema when the application's code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_JSON = sa.text("'{}'")
NOW = sa.text("CURRENT_TIMESTAMP")


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("namespace", sa.String(100), nullable=False),
        sa.Column("settings", _json(), nullable=False, server_default=EMPTY_JSON),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("updated_at", _timestamp(), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("namespace", name="uq_agents_namespace"),
    )
    op.create_index("ix_agents_created_at_id", "agents", ["created_at", "id"])

    op.create_table(
        "data_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
        sa.Column("options", _json(), nullable=False, server_default=EMPTY_JSON),
        sa.Column("blob_key", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("latest_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("updated_at", _timestamp(), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("id", name="pk_data_sources"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_data_sources_agent_id_agents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_data_sources_agent_id_created_at_id", "data_sources", ["agent_id", "created_at", "id"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("data_source_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(50), nullable=False, server_default="pending"),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("progress", _json(), nullable=False, server_default=EMPTY_JSON),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("scheduled_for", _timestamp(), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("completed_at", _timestamp(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("updated_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("locked_by", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", _timestamp(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name="fk_jobs_data_source_id_data_sources",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_jobs_agent_id_agents", ondelete="CASCADE"),
    )
    op.create_index("ix_jobs_agent_id_created_at_id", "jobs", ["agent_id", "created_at", "id"])
    op.create_index("ix_jobs_data_source_id_created_at", "jobs", ["data_source_id", "created_at"])
    is_pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_jobs_pending_dispatch",
        "jobs",
        [sa.text("priority DESC"), sa.text("coalesce(scheduled_for, created_at)"), "created_at"],
        postgresql_where=is_pending,
        sqlite_where=is_pending,
    )
    op.create_index("ix_jobs_status_lease_expires_at", "jobs", ["status", "lease_expires_at"])
    op.create_index("ix_jobs_status_completed_at", "jobs", ["status", "completed_at"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("data_sources")
    op.drop_table("agents")
