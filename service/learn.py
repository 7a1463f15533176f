"""FAQ drafts from the desk's own work (``kefu learn``): what agents answered becomes a
draft for an admin to approve as a curated answer, edit or reject.

Read over a period: questions handed off because the help center had nothing good enough
(``low_confidence``, ``no_sources``, ``no_answer``, ``llm_unavailable``), with the agent's
final reply when the handoff was resolved, and suggestions agents edited before sending
(the question and the text sent). Questions a handoff rule catches (stolen funds, a pasted
secret, an account to look up, a request for a person...) are left out: the rules come
before curated answers, so none would ever be given to them, and their replies are about
one user's case.

The questions are grouped by meaning (the report's grouping, ``service.analytics``); each
group with at least one agent reply becomes a draft: the most asked wording as the
question, the reply closest to the group's other replies as the answer (redacted, and
never one the output check would refuse), and how many conversations asked. Sources a
draft was made from before are not drafted again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.errors import BadInputError
from kefu.redaction import Redactor, detect_secrets
from kefu.settings import DEFAULT_OFFICIAL_DOMAINS
from kefu.text import detect_language
from service.analytics import GROUP_THRESHOLD, group_questions
from service.rules import check_rules
from service.safety import passage_problems
from service.store.models import Answer, Feedback, Handoff

if TYPE_CHECKING:
    from kefu.embedder import Embedder
    from service.curated import CuratedMatcher
    from service.store import DraftRecord, Store

log = logging.getLogger("kefu.learn")

#: Handoffs that say the help center lacked the answer.
LEARN_REASONS: Final = ("low_confidence", "no_sources", "no_answer", "llm_unavailable")


@dataclass(frozen=True)
class Item:
    """One question of the period and, when an agent answered it, the reply."""

    question: str
    reply: str | None
    conversation_id: str
    source: tuple[str, str]  # ("handoffs" | "answers", id)


@dataclass
class LearnOutcome:
    drafts: list[DraftRecord] = field(default_factory=list)
    handoffs_read: int = 0
    suggestions_read: int = 0
    #: Questions left out because a handoff rule catches them.
    skipped_by_rules: int = 0
    groups: int = 0


def collect(store: Store, *, start: datetime, end: datetime) -> tuple[list[Item], LearnOutcome]:
    """The period's learnable questions (and replies), oldest first."""
    outcome = LearnOutcome()
    with Session(store.engine) as session:
        handoffs = session.execute(
            select(Handoff.id, Handoff.conversation_id, Handoff.status, Handoff.final_reply, Answer.question)
            .join(Answer, Answer.id == Handoff.answer_id)
            .where(Handoff.created_at >= start, Handoff.created_at < end, Handoff.reason.in_(LEARN_REASONS))
            .order_by(Handoff.created_at, Handoff.id)
        ).all()
        edited = session.execute(
            select(Answer.id, Answer.conversation_id, Answer.question, Feedback.final_text)
            .join(Feedback, Feedback.answer_id == Answer.id)
            .where(
                Feedback.created_at >= start,
                Feedback.created_at < end,
                Feedback.kind == "edited",
                Answer.mode == "suggest",
            )
            .order_by(Feedback.created_at, Feedback.id)
        ).all()
    outcome.handoffs_read, outcome.suggestions_read = len(handoffs), len(edited)
    items = [
        Item(h.question, h.final_reply if h.status == "resolved" else None, h.conversation_id, ("handoffs", h.id))
        for h in handoffs
    ] + [Item(e.question, e.final_text, e.conversation_id, ("answers", e.id)) for e in edited]
    kept = []
    for item in items:
        if check_rules(item.question, []) or detect_secrets(item.question):
            outcome.skipped_by_rules += 1
            continue
        kept.append(item)
    return kept, outcome


def learn(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    embedder: Embedder | None,
    matcher: CuratedMatcher | None = None,
    min_users: int = 1,
    threshold: float = GROUP_THRESHOLD,
    official_domains: Sequence[str] = DEFAULT_OFFICIAL_DOMAINS,
    dry_run: bool = False,
) -> LearnOutcome:
    """Draft FAQ entries from ``[start, end)`` into the review queue (see the module doc).

    ``matcher`` skips groups a curated answer already answers; ``dry_run`` drafts nothing
    into the store (the outcome's drafts are then unsaved, with id 0)."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise BadInputError("learn: give a timezone-aware period whose end is after its start")
    if min_users < 1:
        raise BadInputError("min_users must be 1 or more")
    items, outcome = collect(store, start=start.astimezone(UTC), end=end.astimezone(UTC))
    done = store.drafted_sources()
    items = [i for i in items if i.source[1] not in done[i.source[0]]]
    labels = group_questions([i.question for i in items], embedder, threshold)
    groups: dict[int, list[Item]] = {}
    for item, label in zip(items, labels, strict=True):
        groups.setdefault(label, []).append(item)
    outcome.groups = len(groups)
    redactor = Redactor()
    for members in sorted(groups.values(), key=lambda m: -len({i.conversation_id for i in m})):
        fields = _draft_fields(
            members, embedder, matcher, min_users=min_users, official_domains=official_domains, redactor=redactor
        )
        if fields is None:
            continue
        outcome.drafts.append(_unsaved_draft(fields, redactor) if dry_run else store.add_draft(**fields))
    log.info("learn: %d drafts from %d groups", len(outcome.drafts), outcome.groups)
    return outcome


def _draft_fields(
    members: list[Item],
    embedder: Embedder | None,
    matcher: CuratedMatcher | None,
    *,
    min_users: int,
    official_domains: Sequence[str],
    redactor: Redactor,
) -> dict[str, Any] | None:
    """The draft one group of questions makes; ``None`` when it makes none (too few users,
    no reply fit to show, or a curated answer already answers it)."""
    users = len({i.conversation_id for i in members})
    if users < min_users:
        return None
    replies = [
        redactor.redact(i.reply).text.strip()
        for i in members
        if i.reply and i.reply.strip() and not detect_secrets(i.reply)
    ]
    # A reply kefu would not show a user (one asking for a secret, say) never becomes a draft.
    replies = [r for r in replies if not passage_problems(r, official_domains)]
    if not replies:
        return None
    question = Counter(i.question for i in members).most_common(1)[0][0]
    if matcher is not None and matcher.match(question, detect_language(question), count=False) is not None:
        return None
    lang = detect_language(question)
    return {
        "question": question,
        "answer": _central(replies, embedder),
        "lang": lang if lang in ("zh", "en") else "zh",
        "users": users,
        "examples": [q for q, _ in Counter(i.question for i in members).most_common(6) if q != question][:5],
        "sources": {
            "handoffs": sorted(i.source[1] for i in members if i.source[0] == "handoffs"),
            "answers": sorted(i.source[1] for i in members if i.source[0] == "answers"),
        },
    }


def _unsaved_draft(fields: dict[str, Any], redactor: Redactor) -> DraftRecord:
    """What a dry run shows: the draft as the store would keep it, with id 0."""
    from service.store import DraftRecord

    return DraftRecord(
        **{**fields, "question": redactor.redact(fields["question"]).text},
        id=0, status="pending", created_at=datetime.now(UTC), reviewed_at=None, reviewed_by=None, curated_id=None,
    )  # fmt: skip


def _central(replies: list[str], embedder: Embedder | None) -> str:
    """The reply most like the others (the most frequent one without an embedder)."""
    counts = Counter(replies)
    if len(counts) == 1 or embedder is None:
        return counts.most_common(1)[0][0]
    distinct = list(counts)
    v = np.asarray(embedder.embed_passages(distinct), dtype=np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    weights = np.asarray([counts[r] for r in distinct], dtype=np.float32)
    closeness = (v @ v.T) @ weights
    return distinct[int(np.argmax(closeness))]
