"""The learning loop: curated answers, FAQ drafts waiting for review, satisfaction ratings,
and webhook events that belong to a conversation rather than a handoff (csat.submitted).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.store.migrations.schema import check, foreign_key, primary_key, timestamp, unique

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"


OLD_EVENTS = "event IN ('handoff.created', 'handoff.claimed', 'message.created', 'handoff.resolved')"
EVENTS = "event IN ('handoff.created', 'handoff.claimed', 'message.created', 'handoff.resolved', 'csat.submitted')"


def upgrade() -> None:
    op.create_table(
        "curated_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_zh", sa.Text(), nullable=True),
        sa.Column("question_en", sa.Text(), nullable=True),
        sa.Column("answer_zh", sa.Text(), nullable=True),
        sa.Column("answer_en", sa.Text(), nullable=True),
        sa.Column("articles", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        timestamp("last_hit_at", nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        timestamp("created_at"),
        timestamp("updated_at"),
        primary_key("curated_answers"),
    )
    op.create_index(op.f("ix_curated_answers_updated_at"), "curated_answers", ["updated_at"])
    op.create_table(
        "csat_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("handled_by", sa.String(length=16), nullable=False),
        timestamp("created_at"),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        check("csat_ratings", "score", "score >= 1 AND score <= 5"),
        check("csat_ratings", "handled_by", "handled_by IN ('bot', 'agent')"),
        foreign_key("csat_ratings", "conversation_id", "conversations", ondelete="CASCADE"),
        foreign_key("csat_ratings", "api_key_id", "api_keys", ondelete="SET NULL"),
        primary_key("csat_ratings"),
        unique("csat_ratings", "conversation_id"),
    )
    op.create_index(op.f("ix_csat_ratings_created_at"), "csat_ratings", ["created_at"])
    op.create_table(
        "faq_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        timestamp("created_at"),
        timestamp("reviewed_at", nullable=True),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("curated_id", sa.Integer(), nullable=True),
        check("faq_drafts", "status", "status IN ('pending', 'approved', 'rejected')"),
        foreign_key("faq_drafts", "curated_id", "curated_answers", ondelete="SET NULL"),
        primary_key("faq_drafts"),
    )
    op.create_index("ix_faq_drafts_status_created_at", "faq_drafts", ["status", "created_at"])
    # Batch mode: SQLite changes a column's nullability or a CHECK constraint by copying the table.
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("handoff_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("conversation_id", sa.String(length=36), nullable=True))
        batch.create_index(op.f("ix_webhook_deliveries_conversation_id"), ["conversation_id"])
        batch.create_foreign_key(
            op.f("fk_webhook_deliveries_conversation_id_conversations"),
            "conversations",
            ["conversation_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.drop_constraint(op.f("ck_webhook_deliveries_event"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_deliveries_event"), EVENTS)


def downgrade() -> None:
    # Deliveries without a handoff (ratings) cannot exist in the older schema.
    op.execute("DELETE FROM webhook_deliveries WHERE handoff_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(op.f("ck_webhook_deliveries_event"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_deliveries_event"), OLD_EVENTS)
        batch.drop_constraint(op.f("fk_webhook_deliveries_conversation_id_conversations"), type_="foreignkey")
        batch.drop_index(op.f("ix_webhook_deliveries_conversation_id"))
        batch.drop_column("conversation_id")
        batch.alter_column("handoff_id", existing_type=sa.String(length=36), nullable=False)
    op.drop_index("ix_faq_drafts_status_created_at", table_name="faq_drafts")
    op.drop_table("faq_drafts")
    op.drop_index(op.f("ix_csat_ratings_created_at"), table_name="csat_ratings")
    op.drop_table("csat_ratings")
    op.drop_index(op.f("ix_curated_answers_updated_at"), table_name="curated_answers")
    op.drop_table("curated_answers")
