"""The store: conversations, answers, feedback, handoffs, API keys and the webhook outbox.

:class:`Store` wraps a SQLAlchemy engine. Its methods are synchronous (the HTTP layer
runs them in a worker thread) and each one is a single transaction: it writes all it
has to, or, when anything fails, nothing at all.

Every text a user or an agent wrote is redacted again here before it is stored, even
though callers redact first: a secret that slips past a caller must still not reach the
database. Errors from the database come out as kefu errors (``from`` the original):
a duplicate or refused row as :class:`~kefu.errors.ConflictError`, a database that cannot
be reached or stays locked as :class:`~kefu.errors.BackendUnavailableError` /
:class:`~kefu.errors.BackendTimeoutError`.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from sqlalchemy import ColumnElement, case, func, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kefu.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    BadInputError,
    ConflictError,
    NotFoundError,
)
from kefu.redaction import Redactor
from kefu.vocab import (
    FEEDBACK_KINDS,
    HANDOFF_STATUSES,
    HISTORY_TURNS,
    PRIORITIES,
    FeedbackKind,
    HandoffStatus,
    Priority,
)
from kefu.vocab import Mode as AnswerMode
from service.store.engine import create_database_engine, sqlite_file, writer
from service.store.migrate import upgrade_database
from service.store.models import (
    ANSWER_MODES,
    DRAFT_STATUSES,
    ROLES,
    Answer,
    ApiKey,
    Conversation,
    CsatRating,
    CuratedAnswer,
    FaqDraft,
    Feedback,
    Handoff,
    Message,
    RateBucket,
    UtcDateTime,
    WebhookDelivery,
)
from service.store.records import (
    ACTIVE_HANDOFF,
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
    HandoffMessage,
    HandoffOrder,
    HandoffPage,
    HandoffRecord,
    HandoffRequest,
    MessageRecord,
    MessageRole,
    Owner,
    Role,
    SavedAnswer,
    StoreCounts,
    WebhookEvent,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kefu.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How stale ``api_keys.last_used_at`` may get: one write per key per minute, not per request.
LAST_USED_RESOLUTION: Final = timedelta(seconds=60)
#: Longest page :meth:`Store.list_handoffs` returns.
MAX_PAGE: Final = 200
#: Longest error text kept for a failed webhook delivery.
MAX_ERROR_CHARS: Final = 500
_KEY_HASH = re.compile(r"[0-9a-f]{64}")
#: A web origin as browsers send it: scheme, host and an optional port, nothing else.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
#: Most messages :meth:`Store.messages` returns at once.
MAX_MESSAGES: Final = 500
MAX_CURATED_QUESTION: Final = 500
MAX_CURATED_ANSWER: Final = 4000
MAX_ARTICLES: Final = 10


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the store's default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How the webhook outbox retries: exponential backoff, then give up.

    After failed attempt ``n`` (1-based) the next one is due ``base * 2**(n-1)`` later,
    at most ``cap``; after ``max_attempts`` failures the delivery is ``failed``. A
    delivery handed out by :meth:`Store.due_deliveries` is not handed out again for
    ``lease`` (so two workers do not call the webhook twice), unless marked first.
    """

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(seconds=120)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError(f"unusable retry policy {self!r}")

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt."""
        # Capping the exponent keeps 2**n small for a delivery that failed many times.
        factor: int = 2 ** min(max(attempts, 1) - 1, 32)
        return min(self.cap, self.base * factor)


class Store:
    """kefu's database. Build one per process; it is safe to share between threads.

    ``url`` is any SQLAlchemy URL (``Settings.database_url_resolved``). ``webhook_url``,
    when set, makes every new handoff also write a pending webhook delivery (the outbox)
    in the same transaction. ``clock`` returns the current UTC time (tests pass their own).
    Call :meth:`migrate` once at start-up; it is cheap when the schema is current.
    """

    def __init__(
        self,
        url: str,
        *,
        webhook_url: str | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] = utcnow,
        retry: RetryPolicy | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.webhook_url = webhook_url
        self.retry = retry or RetryPolicy()
        self._redactor = redactor or Redactor()
        self._clock = clock
        self.engine: Engine = create_database_engine(url, echo=echo)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self.engine), expire_on_commit=False)
        #: The SQLite file, and which file it was when opened (device, inode): SQLite keeps
        #: writing into a file deleted under it, and those writes are lost at the next start.
        self._file = sqlite_file(url)
        self._identity: tuple[int, int] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Store:
        """A store for ``settings.database_url_resolved`` and ``settings.webhook_url``."""
        return cls(settings.database_url_resolved, webhook_url=settings.webhook_url, **options)

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent)."""
        try:
            upgrade_database(self.engine)
        except OperationalError as exc:
            raise _unavailable(exc) from exc
        if self._file is not None:
            stat = self._file.stat()
            self._identity = (stat.st_dev, stat.st_ino)

    def check_database(self) -> None:
        """Raise :class:`BackendUnavailableError` unless the database answers and (SQLite)
        its file is still the one opened, there, and writable. ``/ready`` calls this."""
        self._check_file()
        with self._transaction(write=False) as session:
            session.execute(select(literal(1)))

    def _check_file(self) -> None:
        if self._file is None:
            return
        path = self._file
        try:
            stat = path.stat()
        except OSError as exc:
            raise BackendUnavailableError(
                f"the database file {path} is gone ({exc.strerror}); nothing is written"
            ) from exc
        if self._identity is not None and (stat.st_dev, stat.st_ino) != self._identity:
            raise BackendUnavailableError(f"the database file {path} was replaced since the start; restart to use it")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise BackendUnavailableError(f"the database file {path} (or its folder) is not writable")

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- API keys (the plaintext key never reaches the store: see service.keys) ----------

    def add_api_key(
        self, *, name: str, role: Role, key_hash: str, prefix: str, allowed_origins: Sequence[str] = ()
    ) -> ApiKeyRecord:
        """Store a new key by its SHA-256 hex digest and display prefix.

        ``allowed_origins`` (``https://wallet.example``) limits an ``app`` key to pages
        of those origins (the chat widget); empty means any."""
        _check_choice("role", role, ROLES)
        origins = [origin.strip().rstrip("/") for origin in allowed_origins if origin.strip()]
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise BadInputError(
                    f"allowed origin {origin!r} is not an origin: give scheme and host, e.g. https://wallet.example"
                )
        if not _KEY_HASH.fullmatch(key_hash):
            raise BadInputError("key_hash must be 64 lowercase hex characters (a SHA-256 digest)")
        name = self._clean(name.strip())
        _check_length("name", name, 100)
        _check_length("prefix", prefix, 32)
        with self._transaction(write=True) as session:
            row = ApiKey(
                name=name,
                role=role,
                key_hash=key_hash,
                prefix=prefix,
                created_at=self._now(),
                allowed_origins=origins or None,
            )
            session.add(row)
            session.flush()
            return _api_key(row)

    def authenticate(self, key_hash: str) -> ApiKeyRecord | None:
        """The active key with this SHA-256 digest, or ``None`` (unknown or revoked).

        Also records when the key was last used, at most once per minute: that write
        is bookkeeping, so it runs after the check and a failure of it is only logged.
        """
        if not _KEY_HASH.fullmatch(key_hash):
            return None
        with self._transaction(write=False) as session:
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()
            # The lookup went by an index; compare again in constant time so that no
            # collation or driver quirk can let a near-match through.
            if row is None or not hmac.compare_digest(row.key_hash, key_hash) or row.revoked_at is not None:
                return None
            record = _api_key(row)
        now = self._now()
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
            try:
                with self._transaction(write=True) as session:
                    session.execute(
                        update(ApiKey)
                        .where(ApiKey.id == record.id)
                        .where(ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at <= now - LAST_USED_RESOLUTION))
                        .values(last_used_at=now)
                    )
            except (BackendUnavailableError, BackendTimeoutError) as exc:
                log.warning("could not record the use of API key %d: %s", record.id, exc)
            else:
                record = replace(record, last_used_at=now)
        return record

    def get_api_key(self, key_id: int) -> ApiKeyRecord:
        with self._transaction(write=False) as session:
            return _api_key(_get(session, ApiKey, key_id, "API key"))

    def list_api_keys(self, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        query = select(ApiKey).order_by(ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._transaction(write=False) as session:
            return [_api_key(row) for row in session.scalars(query)]

    def revoke_api_key(self, key_id: int) -> ApiKeyRecord:
        """Revoke a key from now on; revoking a revoked key changes nothing."""
        with self._transaction(write=True) as session:
            row = _get(session, ApiKey, key_id, "API key")
            if row.revoked_at is None:
                row.revoked_at = self._now()
            return _api_key(row)

    # --- conversations and answers -------------------------------------------------------

    def save_answer(
        self,
        *,
        question: str,
        answer: str,
        confidence: float,
        action: str,
        mode: AnswerMode = "answer",
        conversation_id: str | None = None,
        channel: str = "app",
        user_id: str | None = None,
        lang: str | None = None,
        citations: Sequence[Any] = (),
        reason: str | None = None,
        model: str | None = None,
        latency_ms: int | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        handoff: HandoffRequest | None = None,
        owner: Owner | None = None,
    ) -> SavedAnswer:
        """Store a question and its answer, and the handoff it led to, in one transaction.

        With no ``conversation_id`` a new conversation starts, owned by ``owner``'s key; an
        id that is unknown, or that belongs to another ``user_id`` (with ``owner``: to
        another key or user, see :class:`Owner`), is :class:`NotFoundError` (conversation
        ids are only ever made here, so they cannot be guessed or chosen). The question is
        added to the conversation as a user message; the answer as an assistant message
        in mode ``answer`` only, since a suggestion is not said to the user until an agent
        sends it (see :meth:`record_feedback`).
        """
        _check_answer(mode=mode, confidence=confidence, handoff=handoff, channel=channel, user_id=user_id,
                      lang=lang, action=action)  # fmt: skip
        now = self._now()
        with self._transaction(write=True) as session:
            conversation, context = self._conversation_to_answer_in(
                session, conversation_id, channel=channel, user_id=user_id, lang=lang, owner=owner, now=now
            )
            # The user may be answering the assistant ("please send the tx hash"): that
            # context is what tells a transaction hash from a private key.
            row = self._add_answer(
                session, conversation.id, now=now, question=self._clean(question, context), answer=self._clean(answer),
                mode=mode, citations=self._clean_json(list(citations)), confidence=float(confidence), action=action,
                reason=self._clean(reason) if reason else None, model=model, latency_ms=latency_ms,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            )  # fmt: skip
            # One open handoff per conversation: a second request for one (two questions
            # racing) joins the one a human already has.
            handoff_row = None
            if handoff is not None:
                handoff_row = _active_handoff(session, conversation.id) or self._add_handoff(
                    session, conversation, handoff, answer_id=row.id, now=now
                )
            session.flush()
            return SavedAnswer(
                conversation=_conversation(conversation),
                answer=_answer(row),
                handoff=_handoff(handoff_row) if handoff_row is not None else None,
            )

    @staticmethod
    def _add_answer(
        session: Session, conversation_id: str, *, now: datetime, question: str, answer: str, mode: str, **fields: Any
    ) -> Answer:
        """The answer's row, after the question as a user message and before the answer as an
        assistant message (mode ``answer`` only)."""
        session.add(Message(conversation_id=conversation_id, role="user", text=question, created_at=now))
        row = Answer(id=str(uuid.uuid4()), conversation_id=conversation_id, question=question, answer=answer,
                     mode=mode, created_at=now, **fields)  # fmt: skip
        session.add(row)
        session.flush()
        if mode == "answer":
            session.add(Message(conversation_id=conversation_id, role="assistant", text=answer,
                                created_at=now, answer_id=row.id))  # fmt: skip
        return row

    def _conversation_to_answer_in(
        self,
        session: Session,
        conversation_id: str | None,
        *,
        channel: str,
        user_id: str | None,
        lang: str | None,
        owner: Owner | None,
        now: datetime,
    ) -> tuple[Conversation, str]:
        """A new conversation, or the caller's existing one (locked), with the assistant's
        last words in it ("" in a new one)."""
        if conversation_id is None:
            conversation = Conversation(
                id=str(uuid.uuid4()),
                channel=channel,
                user_id=user_id,
                lang=lang,
                api_key_id=owner.api_key_id if owner else None,
                created_at=now,
                updated_at=now,
            )
            session.add(conversation)
            # No relationship() between the models, so the unit of work does not
            # order inserts by foreign key: the parent goes in first, explicitly.
            session.flush()
            return conversation, ""
        conversation = _conversation_for(session, conversation_id, user_id, owner, lock=True)
        conversation.updated_at = now
        if lang and not conversation.lang:
            conversation.lang = lang
        return conversation, _last_assistant_text(session, conversation.id)

    def get_conversation(
        self, conversation_id: str, *, user_id: str | None = None, owner: Owner | None = None
    ) -> ConversationRecord:
        """A conversation; with ``user_id``, only if it is that user's; with ``owner``, only
        if ``owner`` may see it."""
        with self._transaction(write=False) as session:
            return _conversation(_conversation_for(session, conversation_id, user_id, owner))

    def conversation_history(
        self,
        conversation_id: str,
        *,
        turns: int = HISTORY_TURNS,
        user_id: str | None = None,
        owner: Owner | None = None,
    ) -> list[MessageRecord]:
        """The last ``turns`` turns of a conversation, oldest message first.

        A turn is a user message and the assistant messages after it, so a follow-up
        question sees what was asked and what was said back.
        """
        if turns < 1:
            raise BadInputError("turns must be 1 or more")
        with self._transaction(write=False) as session:
            conversation = _conversation_for(session, conversation_id, user_id, owner)
            user_ids = session.scalars(
                select(Message.id)
                .where(Message.conversation_id == conversation.id, Message.role == "user")
                .order_by(Message.id.desc())
                .limit(turns)
            ).all()
            query = select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
            if user_ids:
                query = query.where(Message.id >= min(user_ids))
            return [_message(row) for row in session.scalars(query)]

    def messages(
        self,
        conversation_id: str,
        *,
        user_id: str | None = None,
        after: int = 0,
        limit: int = MAX_MESSAGES,
        owner: Owner | None = None,
    ) -> list[MessageRecord]:
        """The conversation's messages after message id ``after``, oldest first, the
        assistant's with their answer's citations; with ``user_id``, only that user's."""
        if not 1 <= limit <= MAX_MESSAGES:
            raise BadInputError(f"limit must be between 1 and {MAX_MESSAGES}")
        with self._transaction(write=False) as session:
            conversation = _conversation_for(session, conversation_id, user_id, owner)
            rows = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id, Message.id > after)
                .order_by(Message.id)
                .limit(limit)
            ).all()
            answer_ids = {row.answer_id for row in rows if row.answer_id}
            citations: dict[str, list[Any]] = {}
            if answer_ids:
                query = select(Answer.id, Answer.citations).where(Answer.id.in_(answer_ids))
                citations = {answer_id: cited for answer_id, cited in session.execute(query)}
            return [_message(row, citations.get(row.answer_id or "", [])) for row in rows]

    def active_handoff(self, conversation_id: str) -> HandoffRecord | None:
        """The conversation's open or claimed handoff, if a human has it."""
        with self._transaction(write=False) as session:
            row = _active_handoff(session, conversation_id)
            return _handoff(row, waiting=_waiting(session, row)) if row is not None else None

    def latest_handoff(self, conversation_id: str) -> HandoffRecord | None:
        """The conversation's newest handoff, whatever its status."""
        with self._transaction(write=False) as session:
            row = session.scalars(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.created_at.desc(), Handoff.id.desc())
                .limit(1)
            ).one_or_none()
            return _handoff(row) if row is not None else None

    def add_user_message(
        self, conversation_id: str, text: str, *, user_id: str | None = None, owner: Owner | None = None
    ) -> HandoffMessage | None:
        """While a human has the conversation, the user's new message goes to them.

        Adds the (redacted) message to the conversation and announces it
        (``message.created``) if the conversation has an open or claimed handoff, in one
        transaction; returns ``None``, changing nothing, if it has none."""
        if not text.strip():
            raise BadInputError("the message is empty")
        now = self._now()
        with self._transaction(write=True) as session:
            conversation = _conversation_for(session, conversation_id, user_id, owner, lock=True)
            handoff = _active_handoff(session, conversation.id)
            if handoff is None:
                return None
            context = _last_assistant_text(session, conversation.id)
            message = self._add_message(session, conversation.id, "user", self._clean(text, context), now)
            self._add_event(session, handoff, "message.created", now, message=message)
            return HandoffMessage(
                message=_message(message), handoff=_handoff(handoff, waiting=_waiting(session, handoff))
            )

    def reply_to_handoff(self, handoff_id: str, text: str, *, agent: str) -> HandoffMessage:
        """An agent's message to the user, without closing the handoff.

        An open handoff is claimed by ``agent`` on the way (``handoff.claimed``); a
        resolved one is :class:`ConflictError`."""
        reply = self._agent_reply(agent, "text", text, "write the reply to send the user")
        now = self._now()
        with self._transaction(write=True) as session:
            claimed = _claim(session, handoff_id, agent, now)
            row = _get(session, Handoff, handoff_id, "handoff")
            session.refresh(row)
            if row.status == "resolved":
                raise ConflictError(f"handoff {handoff_id} is resolved: the bot has the conversation again")
            if claimed:
                self._add_event(session, row, "handoff.claimed", now)
            message = self._add_message(session, row.conversation_id, "agent", reply, now, author=agent)
            self._add_event(session, row, "message.created", now, message=message)
            return HandoffMessage(message=_message(message), handoff=_handoff(row))

    def get_answer(self, answer_id: str, *, owner: Owner | None = None) -> AnswerRecord:
        """An answer; with ``owner``, only if its conversation is one ``owner`` may see."""
        with self._transaction(write=False) as session:
            return _answer(_answer_for(session, answer_id, owner))

    # --- feedback ------------------------------------------------------------------------

    def record_feedback(
        self,
        answer_id: str,
        kind: FeedbackKind,
        *,
        final_text: str | None = None,
        comment: str | None = None,
        api_key_id: int | None = None,
        owner: Owner | None = None,
    ) -> FeedbackRecord:
        """Record a vote on an answer or an agent's action on a suggestion.

        ``edited`` needs ``final_text`` (what the agent sent) and only ``edited`` takes
        one. When an agent sends a suggestion (``sent_as_is`` or ``edited``), what was
        sent joins the conversation as an assistant message, for follow-up questions.
        """
        _check_choice("kind", kind, FEEDBACK_KINDS)
        if kind == "edited" and not (final_text and final_text.strip()):
            raise BadInputError("feedback 'edited' needs final_text: the text the agent sent")
        if kind != "edited" and final_text is not None:
            raise BadInputError(f"feedback {kind!r} takes no final_text (only 'edited' does)")
        now = self._now()
        with self._transaction(write=True) as session:
            answer = _answer_for(session, answer_id, owner)
            final = self._clean(final_text) if final_text is not None else None
            row = Feedback(
                answer_id=answer.id,
                kind=kind,
                final_text=final,
                comment=self._clean(comment) if comment else None,
                created_at=now,
                api_key_id=api_key_id,
            )
            session.add(row)
            if answer.mode == "suggest" and kind in ("sent_as_is", "edited"):
                sent = final if final is not None else answer.answer
                self._add_message(session, answer.conversation_id, "assistant", sent, now)
            session.flush()
            return _feedback(row)

    def list_feedback(self, answer_id: str) -> list[FeedbackRecord]:
        """The feedback on one answer, oldest first."""
        with self._transaction(write=False) as session:
            _get(session, Answer, answer_id, "answer")
            query = select(Feedback).where(Feedback.answer_id == answer_id).order_by(Feedback.id)
            return [_feedback(row) for row in session.scalars(query)]

    # --- handoffs --------------------------------------------------------------------------

    def create_handoff(
        self, conversation_id: str, request: HandoffRequest, *, answer_id: str | None = None
    ) -> HandoffRecord:
        """Open a handoff (and, with a webhook configured, its pending delivery) at once."""
        _check_handoff_request(request)
        now = self._now()
        with self._transaction(write=True) as session:
            conversation = _get(session, Conversation, conversation_id, "conversation")
            if answer_id is not None:
                answer = session.get(Answer, answer_id)
                if answer is None or answer.conversation_id != conversation.id:
                    raise NotFoundError(f"no answer {answer_id!r} in conversation {conversation_id!r}")
            row = self._add_handoff(session, conversation, request, answer_id=answer_id, now=now)
            session.flush()
            return _handoff(row)

    def get_handoff(self, handoff_id: str) -> HandoffRecord:
        with self._transaction(write=False) as session:
            row = _get(session, Handoff, handoff_id, "handoff")
            return _handoff(row, waiting=_waiting(session, row))

    def list_handoffs(
        self,
        *,
        status: HandoffStatus | Collection[HandoffStatus] | None = None,
        priority: Priority | Collection[Priority] | None = None,
        order: HandoffOrder = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> HandoffPage:
        """A page of handoffs, filtered by status and priority (one value or several).

        ``order="newest"``: newest first. ``order="priority"``: the queue order, most
        urgent first and, within a priority, the one waiting longest first.
        """
        statuses = _choices("status", status, HANDOFF_STATUSES)
        priorities = _choices("priority", priority, PRIORITIES)
        if order not in ("newest", "priority"):
            raise BadInputError(f"order must be 'newest' or 'priority', not {order!r}")
        if not 1 <= limit <= MAX_PAGE:
            raise BadInputError(f"limit must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise BadInputError("offset must be 0 or more")
        query = select(Handoff)
        if statuses:
            query = query.where(Handoff.status.in_(statuses))
        if priorities:
            query = query.where(Handoff.priority.in_(priorities))
        if order == "priority":
            rank = case({p: n for n, p in enumerate(PRIORITIES)}, value=Handoff.priority)
            query = query.order_by(rank, Handoff.created_at, Handoff.id)
        else:
            query = query.order_by(Handoff.created_at.desc(), Handoff.id.desc())
        with self._transaction(write=False) as session:
            total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
            rows = session.scalars(query.limit(limit).offset(offset)).all()
            items = [_handoff(r, waiting=_waiting(session, r)) for r in rows]
            return HandoffPage(items=items, total=total, limit=limit, offset=offset)

    def claim_handoff(self, handoff_id: str, *, agent: str) -> HandoffRecord:
        """``open`` -> ``claimed`` by ``agent``; anything else is :class:`ConflictError`.

        The change is one conditional UPDATE, so of two agents claiming at once exactly
        one wins, on SQLite and PostgreSQL alike.
        """
        _check_length("agent", agent, 128)
        now = self._now()
        with self._transaction(write=True) as session:
            claimed = _claim(session, handoff_id, agent, now)
            row = _get(session, Handoff, handoff_id, "handoff")
            if not claimed:
                raise ConflictError(f"handoff {handoff_id} is {row.status}, not open: it cannot be claimed")
            self._add_event(session, row, "handoff.claimed", now)
            return _handoff(row, waiting=_waiting(session, row))

    def resolve_handoff(self, handoff_id: str, *, final_reply: str, agent: str) -> HandoffRecord:
        """``open`` or ``claimed`` -> ``resolved``, with the agent's final reply.

        A handoff resolved without being claimed is recorded as claimed by ``agent``.
        The final reply joins the conversation as the agent's message, and the bot
        answers the conversation again.
        """
        reply = self._agent_reply(agent, "final_reply", final_reply, "resolve with the reply sent to the user")
        now = self._now()
        with self._transaction(write=True) as session:
            changed = session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status.in_(("open", "claimed")))
                .values(
                    status="resolved",
                    final_reply=reply,
                    resolved_at=now,
                    claimed_by=func.coalesce(Handoff.claimed_by, agent),
                    claimed_at=func.coalesce(Handoff.claimed_at, literal(now, UtcDateTime())),
                )
                .execution_options(synchronize_session=False)
            )
            row = _get(session, Handoff, handoff_id, "handoff")
            if _rowcount(changed) == 0:
                raise ConflictError(f"handoff {handoff_id} is already resolved")
            message = self._add_message(session, row.conversation_id, "agent", reply, now, author=agent)
            self._add_event(session, row, "message.created", now, message=message)
            self._add_event(session, row, "handoff.resolved", now)
            session.flush()
            return _handoff(row)

    # --- metrics -------------------------------------------------------------------------

    def counts(self, *, since: datetime | None = None) -> StoreCounts:
        """Totals for metrics over rows created since ``since`` (all time if ``None``)."""

        def grouped(session: Session, column: Any, created: Any) -> dict[str, int]:
            query = select(column, func.count()).group_by(column)
            if since is not None:
                query = query.where(created >= since)
            return {str(key): int(n) for key, n in session.execute(query)}

        def total(session: Session, model: Any) -> int:
            query = select(func.count()).select_from(model)
            if since is not None:
                query = query.where(model.created_at >= since)
            return int(session.scalar(query) or 0)

        with self._transaction(write=False) as session:
            handoffs_by_status = grouped(session, Handoff.status, Handoff.created_at)
            open_now = session.scalar(select(func.count()).where(Handoff.status == "open")) or 0
            return StoreCounts(
                conversations=total(session, Conversation),
                answers=total(session, Answer),
                answers_by_mode=grouped(session, Answer.mode, Answer.created_at),
                answers_by_action=grouped(session, Answer.action, Answer.created_at),
                handoffs=sum(handoffs_by_status.values()),
                handoffs_by_status=handoffs_by_status,
                handoffs_by_priority=grouped(session, Handoff.priority, Handoff.created_at),
                feedback_by_kind=grouped(session, Feedback.kind, Feedback.created_at),
                open_handoffs=int(open_now),
                deliveries_by_status=grouped(session, WebhookDelivery.status, WebhookDelivery.created_at),
            )

    # --- webhook outbox ------------------------------------------------------------------

    def due_deliveries(self, *, limit: int = 10) -> list[DueDelivery]:
        """Pending deliveries due now, oldest first, each with its handoff, leased.

        Each one returned is not due again for ``retry.lease``: the caller calls the
        webhook and then :meth:`mark_delivered` or :meth:`mark_failed`. If the caller
        dies in between, the delivery comes back when the lease runs out. Of several
        replicas asking at once, each delivery goes to one.
        """
        if limit < 1:
            raise BadInputError("limit must be 1 or more")
        now = self._now()
        with self._transaction(write=True) as session:
            # SKIP LOCKED: a replica leasing at the same moment passes over the rows this one
            # holds instead of taking them too (PostgreSQL; SQLite's write lock serialises).
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            due = []
            for row in rows:
                row.next_attempt_at = now + self.retry.lease
                handoff = session.get(Handoff, row.handoff_id) if row.handoff_id is not None else None
                if handoff is None and row.conversation_id is None:  # pragma: no cover - foreign keys prevent it
                    continue
                due.append(DueDelivery(delivery=_delivery(row), handoff=_handoff(handoff) if handoff else None))
            return due

    def mark_delivered(self, delivery_id: int) -> DeliveryRecord:
        """The webhook took the delivery: it is done, whatever happened before."""
        with self._transaction(write=True) as session:
            row = _get(session, WebhookDelivery, delivery_id, "webhook delivery")
            if row.status != "delivered":
                row.attempts += 1
                row.status = "delivered"
            return _delivery(row)

    def mark_failed(self, delivery_id: int, error: str) -> DeliveryRecord:
        """An attempt failed: retry after the backoff, or give up after the last attempt."""
        now = self._now()
        with self._transaction(write=True) as session:
            row = _get(session, WebhookDelivery, delivery_id, "webhook delivery")
            if row.status != "pending":
                raise ConflictError(f"webhook delivery {delivery_id} is {row.status}, not pending")
            row.attempts += 1
            row.last_error = self._clean(error)[:MAX_ERROR_CHARS]
            if row.attempts >= self.retry.max_attempts:
                row.status = "failed"
                log.warning("webhook delivery %d for handoff %s failed for good", row.id, row.handoff_id)
            else:
                row.next_attempt_at = now + self.retry.delay(row.attempts)
            return _delivery(row)

    def deliveries_for(self, handoff_id: str) -> list[DeliveryRecord]:
        """The webhook deliveries of one handoff."""
        return self._deliveries(WebhookDelivery.handoff_id == handoff_id)

    # --- curated answers -------------------------------------------------------------------

    def add_curated(
        self,
        *,
        question_zh: str | None = None,
        question_en: str | None = None,
        answer_zh: str | None = None,
        answer_en: str | None = None,
        articles: Sequence[str] = (),
        enabled: bool = True,
        by: str | None = None,
    ) -> CuratedRecord:
        """A new curated answer (redacted like everything else stored).

        It needs a question and an answer in at least one language, and every question
        an answer in its language (a question matched in English is answered in English)."""
        fields = _curated_fields(question_zh, question_en, answer_zh, answer_en, articles)
        _check_length("by", by, 128)
        now = self._now()
        with self._transaction(write=True) as session:
            row = CuratedAnswer(
                **{k: self._clean(v) if isinstance(v, str) else v for k, v in fields.items()},
                enabled=bool(enabled),
                hits=0,
                updated_by=by,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _curated(row)

    def update_curated(self, curated_id: int, *, by: str | None = None, **changes: Any) -> CuratedRecord:
        """Change the given fields of a curated answer (question_zh, question_en, answer_zh,
        answer_en, articles, enabled); ``None`` for a text field removes it."""
        allowed = {"question_zh", "question_en", "answer_zh", "answer_en", "articles", "enabled"}
        unknown = set(changes) - allowed
        if unknown:
            raise BadInputError(f"unknown curated answer field(s): {', '.join(sorted(unknown))}")
        _check_length("by", by, 128)
        now = self._now()
        with self._transaction(write=True) as session:
            row = _get(session, CuratedAnswer, curated_id, "curated answer")
            merged = {name: getattr(row, name) for name in allowed - {"enabled"}}
            merged.update({k: v for k, v in changes.items() if k != "enabled"})
            fields = _curated_fields(
                merged["question_zh"], merged["question_en"], merged["answer_zh"], merged["answer_en"],
                merged["articles"] or (),
            )  # fmt: skip
            for name, value in fields.items():
                setattr(row, name, self._clean(value) if isinstance(value, str) else value)
            if "enabled" in changes and changes["enabled"] is not None:
                row.enabled = bool(changes["enabled"])
            row.updated_by = by
            row.updated_at = now
            return _curated(row)

    def delete_curated(self, curated_id: int) -> None:
        with self._transaction(write=True) as session:
            session.delete(_get(session, CuratedAnswer, curated_id, "curated answer"))

    def get_curated(self, curated_id: int) -> CuratedRecord:
        with self._transaction(write=False) as session:
            return _curated(_get(session, CuratedAnswer, curated_id, "curated answer"))

    def list_curated(self, *, enabled: bool | None = None) -> list[CuratedRecord]:
        """Every curated answer (or only the enabled / disabled ones), oldest first."""
        query = select(CuratedAnswer).order_by(CuratedAnswer.id)
        if enabled is not None:
            query = query.where(CuratedAnswer.enabled.is_(enabled))
        with self._transaction(write=False) as session:
            return [_curated(row) for row in session.scalars(query)]

    def curated_version(self) -> tuple[int, datetime | None]:
        """(how many, last change): changes whenever a curated answer is added, edited,
        disabled or deleted (not when one is used), so a matcher knows to reload."""
        with self._transaction(write=False) as session:
            count, latest = session.execute(
                select(func.count(CuratedAnswer.id), func.max(CuratedAnswer.updated_at))
            ).one()
            if latest is not None and not isinstance(latest, datetime):  # SQLite's max() is text
                latest = datetime.fromisoformat(str(latest))
            if latest is not None and latest.tzinfo is None:
                latest = latest.replace(tzinfo=UTC)
            return int(count), latest

    def record_curated_hit(self, curated_id: int) -> None:
        """Count one use of a curated answer (a missing one, deleted meanwhile, is ignored)."""
        now = self._now()
        with self._transaction(write=True) as session:
            session.execute(
                update(CuratedAnswer)
                .where(CuratedAnswer.id == curated_id)
                .values(hits=CuratedAnswer.hits + 1, last_hit_at=now)
                .execution_options(synchronize_session=False)
            )

    # --- satisfaction ------------------------------------------------------------------------

    def save_csat(
        self,
        conversation_id: str,
        score: int,
        *,
        comment: str | None = None,
        user_id: str | None = None,
        owner: Owner | None = None,
        api_key_id: int | None = None,
    ) -> CsatRecord:
        """The user's rating (1-5) of a conversation, once per conversation.

        A conversation nobody has answered yet (no assistant or agent message) cannot be
        rated, nor one rated before (:class:`ConflictError`). ``handled_by`` is ``agent``
        when a human agent wrote in it, else ``bot``. With a webhook configured the rating
        is announced (``csat.submitted``) in the same transaction."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise BadInputError(f"score must be a whole number from 1 to 5, not {score!r}")
        _check_length("comment", comment, 2000)
        now = self._now()
        with self._transaction(write=True) as session:
            conversation = _conversation_for(session, conversation_id, user_id, owner, lock=True)
            roles = set(
                session.scalars(select(Message.role).where(Message.conversation_id == conversation.id).distinct())
            )
            if not roles & {"assistant", "agent"}:
                raise ConflictError(f"conversation {conversation_id} has no answer yet: there is nothing to rate")
            if session.scalar(select(CsatRating.id).where(CsatRating.conversation_id == conversation.id)) is not None:
                raise ConflictError(f"conversation {conversation_id} was already rated (one rating per conversation)")
            row = CsatRating(
                conversation_id=conversation.id,
                score=score,
                comment=self._clean(comment) if comment and comment.strip() else None,
                handled_by="agent" if "agent" in roles else "bot",
                created_at=now,
                api_key_id=api_key_id,
            )
            session.add(row)
            session.flush()
            record = _csat(row)
            body = {"csat": _csat_body(record)}
            self._add_delivery(session, "csat.submitted", now, body, conversation_id=conversation.id)
            return record

    def get_csat(self, conversation_id: str) -> CsatRecord | None:
        with self._transaction(write=False) as session:
            row = session.scalars(select(CsatRating).where(CsatRating.conversation_id == conversation_id)).one_or_none()
            return _csat(row) if row is not None else None

    def deliveries_of_conversation(self, conversation_id: str) -> list[DeliveryRecord]:
        """The webhook deliveries of a conversation's own events (``csat.submitted``)."""
        return self._deliveries(WebhookDelivery.conversation_id == conversation_id)

    # --- FAQ drafts ----------------------------------------------------------------------------

    def add_draft(
        self,
        *,
        question: str,
        answer: str,
        lang: str,
        users: int,
        examples: Sequence[str] = (),
        sources: dict[str, Any] | None = None,
    ) -> DraftRecord:
        """A FAQ draft for review (redacted again here: a secret never reaches a draft)."""
        if not question.strip() or not answer.strip():
            raise BadInputError("a draft needs a question and an answer")
        _check_choice("lang", lang, ("zh", "en"))
        if users < 1:
            raise BadInputError("users must be 1 or more")
        _check_length("question", question, MAX_CURATED_QUESTION)
        _check_length("answer", answer, MAX_CURATED_ANSWER)
        with self._transaction(write=True) as session:
            row = FaqDraft(
                question=self._clean(question.strip()),
                answer=self._clean(answer.strip()),
                lang=lang,
                users=users,
                examples=[self._clean(e) for e in examples],
                sources=dict(sources or {}),
                status="pending",
                created_at=self._now(),
            )
            session.add(row)
            session.flush()
            return _draft(row)

    def list_drafts(self, *, status: DraftStatus | None = None) -> list[DraftRecord]:
        """Drafts, most asked first (then newest), optionally of one status."""
        query = select(FaqDraft).order_by(FaqDraft.users.desc(), FaqDraft.id.desc())
        if status is not None:
            _check_choice("status", status, DRAFT_STATUSES)
            query = query.where(FaqDraft.status == status)
        with self._transaction(write=False) as session:
            return [_draft(row) for row in session.scalars(query)]

    def get_draft(self, draft_id: int) -> DraftRecord:
        with self._transaction(write=False) as session:
            return _draft(_get(session, FaqDraft, draft_id, "draft"))

    def drafted_sources(self) -> dict[str, set[str]]:
        """The handoff and answer ids some draft (of any status) was made from: ``kefu learn``
        does not draft them again."""
        out: dict[str, set[str]] = {"handoffs": set(), "answers": set()}
        with self._transaction(write=False) as session:
            for sources in session.scalars(select(FaqDraft.sources)):
                for kind, ids in out.items():
                    ids.update(str(i) for i in (sources or {}).get(kind, []))
        return out

    def edit_draft(self, draft_id: int, *, question: str | None = None, answer: str | None = None) -> DraftRecord:
        """Change a pending draft's question or answer."""
        for name, value in (("question", question), ("answer", answer)):
            if value is not None and not value.strip():
                raise BadInputError(f"{name} is empty")
        _check_length("question", question, MAX_CURATED_QUESTION)
        _check_length("answer", answer, MAX_CURATED_ANSWER)
        with self._transaction(write=True) as session:
            row = _pending_draft(session, draft_id)
            if question is not None:
                row.question = self._clean(question.strip())
            if answer is not None:
                row.answer = self._clean(answer.strip())
            return _draft(row)

    def approve_draft(
        self, draft_id: int, *, by: str, articles: Sequence[str] = ()
    ) -> tuple[DraftRecord, CuratedRecord]:
        """A pending draft becomes a curated answer (in its language), in one transaction."""
        _check_length("by", by, 128)
        now = self._now()
        with self._transaction(write=True) as session:
            row = _pending_draft(session, draft_id)
            lang = row.lang
            fields = _curated_fields(
                row.question if lang == "zh" else None, row.question if lang == "en" else None,
                row.answer if lang == "zh" else None, row.answer if lang == "en" else None, articles,
            )  # fmt: skip
            curated = CuratedAnswer(
                **{k: self._clean(v) if isinstance(v, str) else v for k, v in fields.items()},
                enabled=True, hits=0, updated_by=by, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(curated)
            session.flush()
            row.status, row.reviewed_at, row.reviewed_by, row.curated_id = "approved", now, by, curated.id
            return _draft(row), _curated(curated)

    def reject_draft(self, draft_id: int, *, by: str) -> DraftRecord:
        _check_length("by", by, 128)
        with self._transaction(write=True) as session:
            row = _pending_draft(session, draft_id)
            row.status, row.reviewed_at, row.reviewed_by = "rejected", self._now(), by
            return _draft(row)

    # --- rate limits ----------------------------------------------------------------------

    def take_token(self, bucket: str, *, per_minute: int, burst: int, now: float | None = None) -> float:
        """Take one token from ``bucket`` (a token bucket shared by every replica).

        Returns 0 when the token was taken, else the seconds until one will be there
        (nothing is taken then). A new bucket starts full with ``burst`` tokens and
        refills at ``per_minute``. The row is locked for the read-modify-write, so
        replicas taking at once each see the other's take.
        """
        if per_minute < 1 or burst < 1:
            raise BadInputError("per_minute and burst must be 1 or more")
        _check_length("bucket", bucket, 160)
        at = time.time() if now is None else now
        rate = per_minute / 60.0
        with self._transaction(write=True) as session:
            session.execute(
                _insert_ignoring_duplicates(session, RateBucket, {"bucket": bucket, "tokens": burst, "updated": at})
            )
            row = session.scalars(select(RateBucket).where(RateBucket.bucket == bucket).with_for_update()).one()
            tokens = min(float(burst), row.tokens + max(0.0, at - row.updated) * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate
            row.tokens, row.updated = tokens - 1.0, max(at, row.updated)
            return 0.0

    # --- internals -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Session]:
        """One session in one transaction: committed if the block ends, else rolled back."""
        sessions = self._writes if write else self._reads
        if write:
            self._check_file()
        try:
            with sessions.begin() as session:
                yield session
        except IntegrityError as exc:
            raise ConflictError(f"the database refused the change: {_reason(exc)}") from exc
        except OperationalError as exc:
            raise _unavailable(exc) from exc
        except DBAPIError as exc:
            raise BackendUnavailableError(f"the database failed: {_reason(exc)}") from exc

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"the store's clock gave a naive datetime {now!r}: give it timezone-aware UTC")
        return now.astimezone(UTC)

    def _agent_reply(self, agent: str, field: str, text: str, hint: str) -> str:
        """An agent's reply (the ``field`` of the request), redacted, once the agent's name fits
        and the reply is not blank (``hint`` says what to write instead)."""
        _check_length("agent", agent, 128)
        if not text.strip():
            raise BadInputError(f"{field} is empty: {hint}")
        return self._clean(text)

    def _deliveries(self, where: ColumnElement[bool]) -> list[DeliveryRecord]:
        """The webhook deliveries ``where`` selects, oldest first."""
        with self._transaction(write=False) as session:
            query = select(WebhookDelivery).where(where).order_by(WebhookDelivery.id)
            return [_delivery(row) for row in session.scalars(query)]

    def _clean(self, text: str, context: str = "") -> str:
        # Redactor.redact leaves the running totals alone, so threads can share it.
        return self._redactor.redact(text, context).text

    def _clean_json(self, value: T) -> T:
        """``value`` with every string in it redacted (dict keys are field names: kept)."""
        if isinstance(value, str):
            return cast(T, self._clean(value))
        if isinstance(value, dict):
            return cast(T, {key: self._clean_json(item) for key, item in value.items()})
        if isinstance(value, list | tuple):
            return cast(T, [self._clean_json(item) for item in value])
        return value

    def _add_message(
        self,
        session: Session,
        conversation_id: str,
        role: MessageRole,
        text: str,
        now: datetime,
        *,
        author: str | None = None,
    ) -> Message:
        message = Message(conversation_id=conversation_id, role=role, text=text, created_at=now, author=author)
        session.add(message)
        conversation = session.get(Conversation, conversation_id)
        if conversation is not None:
            conversation.updated_at = now
        session.flush()  # the id, for the event that names it
        return message

    def _add_event(
        self, session: Session, handoff: Handoff, event: WebhookEvent, now: datetime, *, message: Message | None = None
    ) -> None:
        """The outbox: with a webhook configured, a delivery of ``event`` written in the
        same transaction as the change it announces."""
        body = {"message": _message_body(message)} if message is not None else None
        self._add_delivery(session, event, now, body, handoff_id=handoff.id)

    def _add_delivery(
        self,
        session: Session,
        event: WebhookEvent,
        now: datetime,
        body: dict[str, Any] | None,
        *,
        handoff_id: str | None = None,
        conversation_id: str | None = None,
    ) -> None:
        """A pending delivery of ``event`` to the configured webhook (none without one)."""
        if self.webhook_url:
            session.add(
                WebhookDelivery(
                    handoff_id=handoff_id,
                    conversation_id=conversation_id,
                    url=self.webhook_url,
                    attempts=0,
                    status="pending",
                    next_attempt_at=now,
                    created_at=now,
                    event=event,
                    body=body,
                )
            )

    def _add_handoff(
        self,
        session: Session,
        conversation: Conversation,
        request: HandoffRequest,
        *,
        answer_id: str | None,
        now: datetime,
    ) -> Handoff:
        row = Handoff(
            id=str(uuid.uuid4()),
            conversation_id=conversation.id,
            answer_id=answer_id,
            status="open",
            reason=self._clean(request.reason),
            priority=request.priority,
            category=request.category,
            lang=request.lang or conversation.lang,
            sentiment=request.sentiment,
            summary=self._clean(request.summary) if request.summary else None,
            payload=self._clean_json(dict(request.payload)),
            created_at=now,
        )
        session.add(row)
        session.flush()  # before its delivery, which refers to it
        self._add_event(session, row, "handoff.created", now)
        return row


# --- helpers ---------------------------------------------------------------------------------

M = TypeVar("M", ApiKey, Conversation, Answer, Handoff, WebhookDelivery, CuratedAnswer, FaqDraft)


def _insert_ignoring_duplicates(session: Session, model: Any, values: dict[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model).values(**values).on_conflict_do_nothing()


def _get(session: Session, model: type[M], key: object, what: str) -> M:
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"no {what} {key!r}")
    return row


def _conversation_for(
    session: Session, conversation_id: str, user_id: str | None, owner: Owner | None = None, *, lock: bool = False
) -> Conversation:
    # The lock (PostgreSQL; SQLite has one writer anyway) makes two requests on one
    # conversation take turns, so they cannot both open a handoff.
    row = session.get(Conversation, conversation_id, with_for_update=lock or None)
    # Another user's conversation looks exactly like a missing one.
    if row is None or (user_id is not None and row.user_id is not None and row.user_id != user_id):
        raise NotFoundError(f"no conversation {conversation_id!r}")
    if owner is not None and not _may_see(row, owner):
        raise NotFoundError(f"no conversation {conversation_id!r}")
    return row


def _may_see(row: Conversation, owner: Owner) -> bool:
    """Whether ``owner`` may see the conversation ``row`` (:class:`Owner` says who may)."""
    return owner.staff or (row.api_key_id == owner.api_key_id and row.user_id == owner.user_id)


def _answer_for(session: Session, answer_id: str, owner: Owner | None) -> Answer:
    row = _get(session, Answer, answer_id, "answer")
    if owner is not None and not owner.staff:
        conversation = session.get(Conversation, row.conversation_id)
        if conversation is None or conversation.api_key_id != owner.api_key_id:
            raise NotFoundError(f"no answer {answer_id!r}")
    return row


def _active_handoff(session: Session, conversation_id: str) -> Handoff | None:
    return session.scalars(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(ACTIVE_HANDOFF))
        .order_by(Handoff.created_at, Handoff.id)
        .limit(1)
    ).one_or_none()


def _waiting(session: Session, handoff: Handoff) -> int:
    """The user's messages after the one that opened the handoff and after the last agent message."""
    if handoff.status == "resolved":
        return 0
    last_agent = session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == handoff.conversation_id, Message.role == "agent")
    )
    query = select(func.count()).where(
        Message.conversation_id == handoff.conversation_id,
        Message.role == "user",
        Message.created_at > handoff.created_at,
    )
    if last_agent is not None:
        query = query.where(Message.id > last_agent)
    return int(session.scalar(query) or 0)


def _event_body(item: Message | CsatRecord, *names: str) -> dict[str, Any]:
    """What a webhook event tells of ``item``: its attributes ``names``, then when it was
    created (as ISO text, as JSON carries it)."""
    return {**{name: getattr(item, name) for name in names}, "created_at": item.created_at.isoformat()}


def _message_body(message: Message) -> dict[str, Any]:
    return _event_body(message, "id", "conversation_id", "role", "text", "author")


def _last_assistant_text(session: Session, conversation_id: str) -> str:
    text = session.scalar(
        select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.role.in_(("assistant", "agent")))
        .order_by(Message.id.desc())
        .limit(1)
    )
    return text or ""


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInputError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _choices(name: str, value: str | Collection[str] | None, allowed: tuple[str, ...]) -> list[str]:
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    for item in values:
        _check_choice(name, item, allowed)
    return values


def _check_handoff_request(request: HandoffRequest) -> None:
    _check_choice("priority", request.priority, PRIORITIES)
    if not request.reason.strip():
        raise BadInputError("a handoff needs a reason")
    _check_length("category", request.category, 64)
    _check_length("lang", request.lang, 16)
    _check_length("sentiment", request.sentiment, 32)


def _check_answer(
    *,
    mode: str,
    confidence: float,
    handoff: HandoffRequest | None,
    channel: str,
    user_id: str | None,
    lang: str | None,
    action: str,
) -> None:
    """Refuse an answer :meth:`Store.save_answer` could not store as given."""
    _check_choice("mode", mode, ANSWER_MODES)
    if not 0.0 <= confidence <= 1.0:
        raise BadInputError(f"confidence must be between 0 and 1, not {confidence}")
    if handoff is not None:
        _check_handoff_request(handoff)
    _check_length("channel", channel, 32)
    _check_length("user_id", user_id, 128)
    _check_length("lang", lang, 16)
    _check_length("action", action, 32)


def _check_length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise BadInputError(f"{name} is at most {limit} characters")


def _claim(session: Session, handoff_id: str, agent: str, now: datetime) -> bool:
    """Claim the handoff for ``agent`` if it is open: one conditional UPDATE, so of two
    agents claiming at once exactly one does. Whether this call claimed it."""
    changed = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == "open")
        .values(status="claimed", claimed_by=agent, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(changed) > 0


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


def _reason(exc: DBAPIError) -> str:
    # The driver's own message: str(exc) would add the SQL and its parameters.
    return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__


def _unavailable(exc: OperationalError) -> BackendUnavailableError | BackendTimeoutError:
    reason = _reason(exc)
    if "locked" in reason or "busy" in reason:
        return BackendTimeoutError(f"the database stayed busy: {reason}")
    return BackendUnavailableError(f"the database cannot serve the request: {reason}")


def _record(record_type: type[T], row: object, **overrides: Any) -> T:
    """``record_type`` filled from the row's attributes of the same names, but for ``overrides``."""
    names = [f.name for f in dataclass_fields(cast(Any, record_type)) if f.name not in overrides]
    return record_type(**{name: getattr(row, name) for name in names}, **overrides)


def _api_key(row: ApiKey) -> ApiKeyRecord:
    return _record(ApiKeyRecord, row, allowed_origins=tuple(row.allowed_origins or ()))


def _conversation(row: Conversation) -> ConversationRecord:
    return _record(ConversationRecord, row)


def _message(row: Message, citations: list[Any] | None = None) -> MessageRecord:
    return _record(MessageRecord, row, citations=list(citations or []))


def _answer(row: Answer) -> AnswerRecord:
    return _record(AnswerRecord, row, citations=list(row.citations))


def _feedback(row: Feedback) -> FeedbackRecord:
    return _record(FeedbackRecord, row)


def _handoff(row: Handoff, *, waiting: int = 0) -> HandoffRecord:
    return _record(HandoffRecord, row, payload=dict(row.payload), waiting=waiting)


def _delivery(row: WebhookDelivery) -> DeliveryRecord:
    return _record(DeliveryRecord, row, body=dict(row.body or {}))


def _curated_fields(
    question_zh: str | None,
    question_en: str | None,
    answer_zh: str | None,
    answer_en: str | None,
    articles: Sequence[str],
) -> dict[str, Any]:
    """The checked fields of a curated answer (blank texts become ``None``)."""

    def text(name: str, value: str | None, limit: int) -> str | None:
        if value is None or not value.strip():
            return None
        _check_length(name, value.strip(), limit)
        return value.strip()

    fields: dict[str, Any] = {
        "question_zh": text("question_zh", question_zh, MAX_CURATED_QUESTION),
        "question_en": text("question_en", question_en, MAX_CURATED_QUESTION),
        "answer_zh": text("answer_zh", answer_zh, MAX_CURATED_ANSWER),
        "answer_en": text("answer_en", answer_en, MAX_CURATED_ANSWER),
    }
    if not fields["question_zh"] and not fields["question_en"]:
        raise BadInputError("a curated answer needs a question: give question_zh or question_en")
    for lang in ("zh", "en"):
        if fields[f"question_{lang}"] and not fields[f"answer_{lang}"]:
            raise BadInputError(f"answer_{lang}: question_{lang} is given, so the {lang} answer is needed too")
    if not fields["answer_zh"] and not fields["answer_en"]:
        raise BadInputError("a curated answer needs an answer: give answer_zh or answer_en")
    if isinstance(articles, str):
        raise BadInputError("articles must be a list of article paths or URLs")
    cleaned = [a.strip() for a in articles if a and a.strip()]
    if len(cleaned) > MAX_ARTICLES:
        raise BadInputError(f"articles: at most {MAX_ARTICLES}")
    for i, article in enumerate(cleaned):
        _check_length(f"articles[{i}]", article, 500)
    fields["articles"] = cleaned
    return fields


def _curated(row: CuratedAnswer) -> CuratedRecord:
    return _record(
        CuratedRecord, row, articles=tuple(row.articles or ()), enabled=bool(row.enabled), hits=int(row.hits)
    )


def _csat(row: CsatRating) -> CsatRecord:
    return _record(CsatRecord, row, score=int(row.score))


def _csat_body(record: CsatRecord) -> dict[str, Any]:
    return _event_body(record, "conversation_id", "score", "comment", "handled_by")


def _draft(row: FaqDraft) -> DraftRecord:
    return _record(
        DraftRecord, row, users=int(row.users), examples=list(row.examples or []), sources=dict(row.sources or {})
    )


def _pending_draft(session: Session, draft_id: int) -> FaqDraft:
    row = _get(session, FaqDraft, draft_id, "draft")
    if row.status != "pending":
        raise ConflictError(f"draft {draft_id} is {row.status}: only a pending draft can be changed")
    return row
