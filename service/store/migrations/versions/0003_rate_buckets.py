"""Rate-limit buckets in the database, shared by the replicas of one service."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.store.migrations.schema import primary_key

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        primary_key("rate_buckets", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
