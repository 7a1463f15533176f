"""The conversation loop: agent messages, messages tied to their answer, webhook events
other than handoff.created, and the page origins a public app key may be used from.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"

EVENTS = "event IN ('handoff.created', 'handoff.claimed', 'message.created', 'handoff.resolved')"


def upgrade() -> None:
    # Batch mode: SQLite changes a CHECK constraint or adds a foreign key by copying the table.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("answer_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("author", sa.String(length=128), nullable=True))
        batch.drop_constraint(op.f("ck_messages_role"), type_="check")
        batch.create_check_constraint(op.f("ck_messages_role"), "role IN ('user', 'assistant', 'agent')")
        batch.create_foreign_key(
            op.f("fk_messages_answer_id_answers"), "answers", ["answer_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("event", sa.String(length=32), nullable=False, server_default="handoff.created"))
        batch.add_column(sa.Column("body", sa.JSON(), nullable=True))
        batch.create_check_constraint(op.f("ck_webhook_deliveries_event"), EVENTS)
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("allowed_origins", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("allowed_origins")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(op.f("ck_webhook_deliveries_event"), type_="check")
        batch.drop_column("body")
        batch.drop_column("event")
    # The agents' replies stay in the conversation, as replies the user was sent.
    op.execute("UPDATE messages SET role = 'assistant' WHERE role = 'agent'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(op.f("fk_messages_answer_id_answers"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_messages_role"), type_="check")
        batch.create_check_constraint(op.f("ck_messages_role"), "role IN ('user', 'assistant')")
        batch.drop_column("author")
        batch.drop_column("answer_id")
