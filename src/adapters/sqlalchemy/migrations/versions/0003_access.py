"""API keys (stored hashed) and idempotency keys of source creation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Types spelled out, as in 0001: the migration must not move when ``tables.py`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_api_keys_agent_id_agents", ondelete="CASCADE"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_agent_id", "api_keys", ["agent_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("agent_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_idempotency_keys_agent_id_agents", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["data_sources.id"], name="fk_idempotency_keys_source_id_data_sources", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_idempotency_keys_source_id", "idempotency_keys", ["source_id"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("api_keys")
