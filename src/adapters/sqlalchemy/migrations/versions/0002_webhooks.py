"""Webhooks and the webhook delivery outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Types spelled out, as in 0001: the migration must not move when ``tables.py`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def _json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", _json(), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("updated_at", _timestamp(), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("agent_id", name="pk_webhooks"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_webhooks_agent_id_agents", ondelete="CASCADE"),
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _timestamp(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("locked_by", sa.String(200), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("updated_at", _timestamp(), nullable=False, server_default=NOW),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_webhook_deliveries_agent_id_agents", ondelete="CASCADE"
        ),
    )
    is_open = sa.text("status = 'pending' OR status = 'sending'")
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=is_open,
        sqlite_where=is_open,
    )
    op.create_index(
        "ix_webhook_deliveries_agent_id_created_at_id", "webhook_deliveries", ["agent_id", "created_at", "id"]
    )
    op.create_index("ix_webhook_deliveries_status_finished_at", "webhook_deliveries", ["status", "finished_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
