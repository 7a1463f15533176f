"""Persistence: conversations, answers, feedback, handoffs, API keys, the webhook outbox.

SQLite (in the data dir) by default, any SQLAlchemy URL (PostgreSQL) by setting
``KEFU_DATABASE_URL``; the schema comes from the Alembic migrations in ``migrations/``.

    store = Store.from_settings(settings)
    store.migrate()
    saved = store.save_answer(question=..., answer=..., confidence=0.8, action="answer")
"""

from __future__ import annotations

from kefu.vocab import FeedbackKind, HandoffStatus, Priority
from kefu.vocab import Mode as AnswerMode
from service.store.migrate import current_revision, head_revision, upgrade_database
from service.store.records import (
    AnswerRecord,
    ApiKeyRecord,
    ConversationRecord,
    CsatRecord,
    CuratedRecord,
    DeliveryRecord,
    DraftRecord,
    DraftStatus,
    DueDelivery,
    FeedbackRecord,
    HandoffOrder,
    HandoffPage,
    HandoffRecord,
    HandoffRequest,
    MessageRecord,
    Owner,
    Role,
    SavedAnswer,
    StoreCounts,
)
from service.store.store import RetryPolicy, Store, utcnow

__all__ = [
    "AnswerMode",
    "AnswerRecord",
    "ApiKeyRecord",
    "ConversationRecord",
    "CsatRecord",
    "CuratedRecord",
    "DeliveryRecord",
    "DraftRecord",
    "DraftStatus",
    "DueDelivery",
    "FeedbackKind",
    "FeedbackRecord",
    "HandoffOrder",
    "HandoffPage",
    "HandoffRecord",
    "HandoffRequest",
    "HandoffStatus",
    "MessageRecord",
    "Owner",
    "Priority",
    "RetryPolicy",
    "Role",
    "SavedAnswer",
    "Store",
    "StoreCounts",
    "current_revision",
    "head_revision",
    "upgrade_database",
    "utcnow",
]
