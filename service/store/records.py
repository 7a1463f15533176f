"""What :class:`~service.store.Store` takes and returns: plain frozen dataclasses.

The ORM objects never leave a ``Store`` method (they belong to its session); callers get
these instead, which the HTTP layer can serialise as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kefu.vocab import FeedbackKind, HandoffStatus, Priority
from kefu.vocab import Mode as AnswerMode

#: The records callers use, re-exported by the package (``from service.store import HandoffRecord``).
__all__ = [
    "AnswerRecord",
    "ApiKeyRecord",
    "ConversationRecord",
    "CsatRecord",
    "CuratedRecord",
    "DeliveryRecord",
    "DraftRecord",
    "DraftStatus",
    "DueDelivery",
    "FeedbackRecord",
    "HandoffOrder",
    "HandoffPage",
    "HandoffRecord",
    "HandoffRequest",
    "MessageRecord",
    "Owner",
    "Role",
    "SavedAnswer",
    "StoreCounts",
]

Role = Literal["app", "agent", "admin"]
MessageRole = Literal["user", "assistant", "agent"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
HandoffOrder = Literal["newest", "priority"]
WebhookEvent = Literal["handoff.created", "handoff.claimed", "message.created", "handoff.resolved", "csat.submitted"]
CsatHandler = Literal["bot", "agent"]
DraftStatus = Literal["pending", "approved", "rejected"]
#: A handoff in these states has a human on the conversation: the bot does not answer.
ACTIVE_HANDOFF: tuple[HandoffStatus, ...] = ("open", "claimed")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    name: str
    role: Role
    #: The start of the key (``kefu_agent_AbCdEfGh``), enough to recognise it.
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    #: Page origins an ``app`` key may be used from; empty: any.
    allowed_origins: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def label(self) -> str:
        """How the key is named in stored data such as ``handoffs.claimed_by``."""
        return self.name or f"key {self.id}"


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    channel: str
    user_id: str | None
    lang: str | None
    created_at: datetime
    updated_at: datetime
    api_key_id: int | None = None


@dataclass(frozen=True, slots=True)
class Owner:
    """Who asks for a conversation (or an answer in it) and what they may see.

    A conversation belongs to the API key that started it and to the user id that key
    vouched for: another key, or the same key for another user (or for none), finds
    nothing, exactly as if the id did not exist. ``staff`` (agent and admin keys, and an
    open demo server) see every conversation.
    """

    api_key_id: int | None
    user_id: str | None = None
    staff: bool = False


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    conversation_id: str
    role: MessageRole
    text: str
    created_at: datetime
    #: The answer an assistant message is.
    answer_id: str | None = None
    #: Who wrote an agent message.
    author: str | None = None
    #: The answer's citations (assistant messages; filled by :meth:`Store.messages`).
    citations: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    id: str
    conversation_id: str
    question: str
    answer: str
    citations: list[Any]
    confidence: float
    action: str
    reason: str | None
    mode: AnswerMode
    model: str | None
    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    id: int
    answer_id: str
    kind: FeedbackKind
    final_text: str | None
    comment: str | None
    created_at: datetime
    api_key_id: int | None


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """A new handoff, as the handoff rules decide it (input to ``Store``)."""

    reason: str
    priority: Priority = "normal"
    category: str | None = None
    lang: str | None = None
    sentiment: str | None = None
    summary: str | None = None
    #: The conversation, the evidence and the suggested reply; every string is redacted.
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    id: str
    conversation_id: str
    answer_id: str | None
    status: HandoffStatus
    reason: str
    priority: Priority
    category: str | None
    lang: str | None
    sentiment: str | None
    summary: str | None
    payload: dict[str, Any]
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    final_reply: str | None
    created_at: datetime
    #: The user's messages since the handoff opened that no agent has replied to yet
    #: (filled by :meth:`Store.list_handoffs` and :meth:`Store.get_handoff`).
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class HandoffPage:
    """One page of the handoff queue and how many handoffs match the filters in all."""

    items: list[HandoffRecord]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class HandoffMessage:
    """A message added to a conversation a human has (the user's, or an agent's reply)."""

    message: MessageRecord
    handoff: HandoffRecord


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    """What :meth:`Store.save_answer` wrote."""

    conversation: ConversationRecord
    answer: AnswerRecord
    handoff: HandoffRecord | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    handoff_id: str | None
    url: str
    attempts: int
    status: DeliveryStatus
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    event: WebhookEvent = "handoff.created"
    #: What the event adds to the handoff (``{"message": {...}}`` for message.created).
    body: dict[str, Any] = field(default_factory=dict)
    #: The conversation of an event without a handoff (``csat.submitted``).
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A webhook call to make now, with the handoff it announces (``None`` for an event
    of a conversation, such as ``csat.submitted``)."""

    delivery: DeliveryRecord
    handoff: HandoffRecord | None


@dataclass(frozen=True, slots=True)
class CuratedRecord:
    """A curated answer: its questions and answers per language, as the admin wrote them."""

    id: int
    question_zh: str | None
    question_en: str | None
    answer_zh: str | None
    answer_en: str | None
    articles: tuple[str, ...]
    enabled: bool
    hits: int
    last_hit_at: datetime | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime

    def questions(self) -> dict[str, str]:
        """Language -> question, for the languages it has one in."""
        return {lang: q for lang, q in (("zh", self.question_zh), ("en", self.question_en)) if q}

    def answer_in(self, lang: str) -> str | None:
        return self.answer_en if lang == "en" else self.answer_zh


@dataclass(frozen=True, slots=True)
class CsatRecord:
    id: int
    conversation_id: str
    score: int
    comment: str | None
    handled_by: CsatHandler
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DraftRecord:
    """A FAQ draft waiting for review (or reviewed)."""

    id: int
    question: str
    answer: str
    lang: str
    users: int
    examples: list[str]
    sources: dict[str, Any]
    status: DraftStatus
    created_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None
    curated_id: int | None


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Totals for metrics, over answers, handoffs and feedback created since a moment."""

    conversations: int
    answers: int
    #: Answers given to users (mode ``answer``) and suggestions given to agents.
    answers_by_mode: dict[str, int]
    answers_by_action: dict[str, int]
    handoffs: int
    handoffs_by_status: dict[str, int]
    handoffs_by_priority: dict[str, int]
    feedback_by_kind: dict[str, int]
    #: Handoffs waiting for an agent now (not limited to ``since``).
    open_handoffs: int
    deliveries_by_status: dict[str, int]

    @property
    def handoff_rate(self) -> float | None:
        """Handoffs per answer given to users; ``None`` before the first answer."""
        answered = self.answers_by_mode.get("answer", 0)
        return self.handoffs / answered if answered else None

    @property
    def helpful_rate(self) -> float | None:
        """Share of "helpful" among helpful / not-helpful votes; ``None`` with no votes."""
        helpful = self.feedback_by_kind.get("helpful", 0)
        votes = helpful + self.feedback_by_kind.get("not_helpful", 0)
        return helpful / votes if votes else None
