"""Initial schema: API keys, conversations, messages, answers, feedback, handoffs, webhook outbox."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.store.migrations.schema import check, foreign_key, primary_key, timestamp, unique

revision: str = "0001"
down_revision: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        timestamp("created_at"),
        timestamp("revoked_at", nullable=True),
        timestamp("last_used_at", nullable=True),
        check("api_keys", "role", "role IN ('app', 'agent', 'admin')"),
        primary_key("api_keys"),
        unique("api_keys", "key_hash"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("lang", sa.String(length=16), nullable=True),
        timestamp("created_at"),
        timestamp("updated_at"),
        primary_key("conversations"),
    )
    op.create_index(op.f("ix_conversations_user_id"), "conversations", ["user_id"])
    op.create_table(
        "answers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        timestamp("created_at"),
        check("answers", "mode", "mode IN ('answer', 'suggest')"),
        check("answers", "confidence", "confidence >= 0 AND confidence <= 1"),
        foreign_key("answers", "conversation_id", "conversations", ondelete="CASCADE"),
        primary_key("answers"),
    )
    op.create_index(op.f("ix_answers_conversation_id"), "answers", ["conversation_id"])
    op.create_index(op.f("ix_answers_created_at"), "answers", ["created_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        timestamp("created_at"),
        check("messages", "role", "role IN ('user', 'assistant')"),
        foreign_key("messages", "conversation_id", "conversations", ondelete="CASCADE"),
        primary_key("messages"),
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("final_text", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        timestamp("created_at"),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        check("feedback", "kind", "kind IN ('helpful', 'not_helpful', 'sent_as_is', 'edited', 'discarded')"),
        foreign_key("feedback", "answer_id", "answers", ondelete="CASCADE"),
        foreign_key("feedback", "api_key_id", "api_keys", ondelete="SET NULL"),
        primary_key("feedback"),
    )
    op.create_index(op.f("ix_feedback_answer_id"), "feedback", ["answer_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("answer_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("sentiment", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        timestamp("claimed_at", nullable=True),
        timestamp("resolved_at", nullable=True),
        sa.Column("final_reply", sa.Text(), nullable=True),
        timestamp("created_at"),
        check("handoffs", "priority", "priority IN ('urgent', 'high', 'normal', 'low')"),
        check("handoffs", "status", "status IN ('open', 'claimed', 'resolved')"),
        foreign_key("handoffs", "answer_id", "answers", ondelete="SET NULL"),
        foreign_key("handoffs", "conversation_id", "conversations", ondelete="CASCADE"),
        primary_key("handoffs"),
    )
    op.create_index(op.f("ix_handoffs_conversation_id"), "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_status_created_at", "handoffs", ["status", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        timestamp("next_attempt_at"),
        timestamp("created_at"),
        check("webhook_deliveries", "status", "status IN ('pending', 'delivered', 'failed')"),
        foreign_key("webhook_deliveries", "handoff_id", "handoffs", ondelete="CASCADE"),
        primary_key("webhook_deliveries"),
    )
    op.create_index(op.f("ix_webhook_deliveries_handoff_id"), "webhook_deliveries", ["handoff_id"])
    op.create_index("ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "handoffs",
        "feedback",
        "messages",
        "answers",
        "conversations",
        "api_keys",
    ):
        op.drop_table(table)
