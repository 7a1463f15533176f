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
from service.store import records
from service.store.migrate import current_revision, head_revision, upgrade_database
from service.store.records import *  # noqa: F403 - the names records.__all__ lists
from service.store.store import RetryPolicy, Store, utcnow

__all__ = [
    "AnswerMode",
    "FeedbackKind",
    "HandoffStatus",
    "Priority",
    "RetryPolicy",
    "Store",
    "current_revision",
    "head_revision",
    "upgrade_database",
    "utcnow",
]
__all__ += records.__all__
