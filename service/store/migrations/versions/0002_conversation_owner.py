"""Conversations remember the API key that started them (their owner)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"


def upgrade() -> None:
    # A plain column, no foreign key: adding one on SQLite means rebuilding the table,
    # whose DROP would cascade to every message. Keys are revoked, never deleted.
    # Conversations from before have no owner: only agent and admin keys see them.
    op.add_column("conversations", sa.Column("api_key_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_conversations_api_key_id"), "conversations", ["api_key_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_api_key_id"), table_name="conversations")
    op.drop_column("conversations", "api_key_id")
