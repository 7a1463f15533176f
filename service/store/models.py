"""The tables kefu keeps, as SQLAlchemy 2.x ORM models.

The schema itself is created and changed only by the Alembic migrations next to this
module (``migrations/``); a test checks that they produce exactly these models.

Every timestamp is a timezone-aware UTC ``datetime`` (:class:`UtcDateTime`), and every
text a user or an agent wrote is stored only after redaction (see ``Store``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from kefu.vocab import FEEDBACK_KINDS, HANDOFF_STATUSES, MODES, PRIORITIES

# Names for constraints and indexes, so that later migrations can refer to them by name
# (PostgreSQL names them itself otherwise, and SQLite leaves them unnamed).
NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES: Final = ("app", "agent", "admin")
#: ``agent``: what a human agent wrote to the user (the bot is ``assistant``).
MESSAGE_ROLES: Final = ("user", "assistant", "agent")
ANSWER_MODES: Final = MODES
DELIVERY_STATUSES: Final = ("pending", "delivered", "failed")
#: What a webhook delivery announces; every event but ``csat.submitted`` belongs to a handoff.
WEBHOOK_EVENTS: Final = ("handoff.created", "handoff.claimed", "message.created", "handoff.resolved", "csat.submitted")
#: Who answered a conversation a rating is about: the bot alone, or a human agent too.
CSAT_HANDLERS: Final = ("bot", "agent")
DRAFT_STATUSES: Final = ("pending", "approved", "rejected")

UUID_LENGTH: Final = 36


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """A check keeping ``column`` to ``values``, named after the column (``ck_<table>_<column>``)."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=column)


def _queue(table: str, statuses: tuple[str, ...], *, by: str) -> tuple[CheckConstraint, Index]:
    """A work queue's ``status``: kept to ``statuses``, and indexed with ``by`` for reading the
    queue by status in that order (the index named ``ix_<table>_status_<by>``)."""
    return _one_of("status", statuses), Index(f"ix_{table}_status_{by}", "status", by)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` in every database.

    PostgreSQL stores it as ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text (which still sorts and compares correctly) and read back
    with ``tzinfo=UTC``. A naive ``datetime`` is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: kefu stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime()}  # noqa: RUF012


class ApiKey(Base):
    """An API key: only the SHA-256 of the key is kept, and the start of it for display."""

    __tablename__ = "api_keys"
    __table_args__ = (_one_of("role", ROLES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    #: Hex SHA-256 of the whole key; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The key up to its first 8 random characters (``kefu_agent_AbCdEfGh``), for display.
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    #: For an ``app`` key used in web pages: the page origins it may be used from
    #: (``https://wallet.example``); ``None`` means any.
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSON)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(128), index=True)
    lang: Mapped[str | None] = mapped_column(String(16))
    #: The API key that started it (None: started open, or before keys were recorded).
    api_key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        _one_of("role", MESSAGE_ROLES),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    # Autoincrementing, so it orders the messages of a conversation even within one instant.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: The answer an assistant message is (its citations, its feedback).
    answer_id: Mapped[str | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    #: Who wrote an agent message: the name (or ``key <id>``) of the agent's API key.
    author: Mapped[str | None] = mapped_column(String(128))


class Answer(Base):
    """An answer to a user (mode ``answer``) or a reply suggested to an agent (``suggest``)."""

    __tablename__ = "answers"
    __table_args__ = (
        _one_of("mode", ANSWER_MODES),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(index=True)


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (_one_of("kind", FEEDBACK_KINDS),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    final_text: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (*_queue("handoffs", HANDOFF_STATUSES, by="created_at"), _one_of("priority", PRIORITIES))

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    answer_id: Mapped[str | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    lang: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(Text)
    #: The redacted conversation, the evidence and the suggested reply, for the agent.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Who claimed it: the name (or ``key <id>``) of the agent's API key.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    final_reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """The outbox: a webhook call owed for an event of a handoff, written with the change."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        *_queue("webhook_deliveries", DELIVERY_STATUSES, by="next_attempt_at"),
        _one_of("event", WEBHOOK_EVENTS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The handoff the event belongs to (``None`` for ``csat.submitted``).
    handoff_id: Mapped[str | None] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(32), server_default="handoff.created")
    #: What the event adds to the handoff (the message of ``message.created``), redacted.
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The conversation of an event without a handoff (``csat.submitted``).
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)


class RateBucket(Base):
    """A token bucket of one API key (or open-access client), shared by every replica.

    ``updated`` is wall-clock seconds since the epoch (a float, so the refill is plain
    arithmetic on every database); replicas' clocks only need to agree to a second or so.
    """

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(160), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class CuratedAnswer(Base):
    """A question -> answer pair an admin wrote (or approved from a FAQ draft): a user
    question close enough to one of its questions gets its answer as written."""

    __tablename__ = "curated_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_zh: Mapped[str | None] = mapped_column(Text)
    question_en: Mapped[str | None] = mapped_column(Text)
    answer_zh: Mapped[str | None] = mapped_column(Text)
    answer_en: Mapped[str | None] = mapped_column(Text)
    #: Help-center articles the answer points to (corpus paths or URLs).
    articles: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: How many questions it answered.
    hits: Mapped[int] = mapped_column(Integer)
    last_hit_at: Mapped[datetime | None]
    #: Who wrote or last changed it (the API key's name).
    updated_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class CsatRating(Base):
    """A user's satisfaction rating of a conversation (one per conversation)."""

    __tablename__ = "csat_ratings"
    __table_args__ = (
        CheckConstraint("score >= 1 AND score <= 5", name="score"),
        _one_of("handled_by", CSAT_HANDLERS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    #: ``agent`` when a human agent wrote in the conversation before the rating, else ``bot``.
    handled_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))


class FaqDraft(Base):
    """A FAQ entry drafted by ``kefu learn`` from the desk's own work, waiting for review.

    Never shown to users: only approving it makes a curated answer of it."""

    __tablename__ = "faq_drafts"
    __table_args__ = _queue("faq_drafts", DRAFT_STATUSES, by="created_at")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(16))
    #: How many conversations asked it.
    users: Mapped[int] = mapped_column(Integer)
    #: Other wordings of the question, most asked first.
    examples: Mapped[list[str]] = mapped_column(JSON)
    #: What it was drafted from: ``{"handoffs": [...], "answers": [...]}`` (ids).
    sources: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    #: The curated answer approving it made.
    curated_id: Mapped[int | None] = mapped_column(ForeignKey("curated_answers.id", ondelete="SET NULL"))
