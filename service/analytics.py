"""The weekly report: what the desk's questions, handoffs and feedback say about a period.

Framework-free: :func:`build_report` reads the store's tables (read-only) and returns a
:class:`Report`, which the CLI prints, the API serves as JSON and :func:`render_html`
turns into one self-contained page with inline SVG charts.

    report = build_report(store, start=now - timedelta(days=7), end=now, embedder=embedder)

Each figure covers rows created in ``[start, end)``; "previous" figures cover the period
of the same length just before ``start``. Questions are what users asked the assistant
(answers in mode ``answer``); suggestions for agents are counted apart.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.errors import BadInputError
from kefu.text import normalise
from service.store.models import Answer, CsatRating, Feedback, Handoff

if TYPE_CHECKING:
    from kefu.embedder import Embedder
    from service.retriever import Retriever
    from service.store import Store

#: Handoffs that say the knowledge base lacks something (not rules such as stolen funds).
GAP_REASONS: Final = ("low_confidence", "no_sources", "no_answer")
#: Cosine (e5 query embeddings) to a group's centroid at or above which a question joins it.
#: The lowest at which no two different questions of tests/service/data/question_groups.jsonl
#: share a group; it splits many paraphrases (docs/analytics.md): precision before recall.
GROUP_THRESHOLD: Final = 0.93
AGENT_ACTIONS: Final = ("sent_as_is", "edited", "discarded")
MAX_EXAMPLES: Final = 3
_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS: Final = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    """``7d``, ``24h``, ``2w`` -> a timedelta; anything else is a :class:`BadInputError`."""
    match = _SINCE.match(value)
    if not match or int(match.group(1)) == 0:
        raise BadInputError(f"--since {value!r}: write a period such as 7d, 24h or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Group:
    """Similar questions: how many in the period and in the one before, with examples."""

    question: str
    count: int
    previous: int
    examples: list[str]
    #: For a gap: the handoff reasons and their counts.
    reasons: dict[str, int] = field(default_factory=dict)
    #: For a gap: the article the retriever finds closest to ``question`` (path, title, score).
    closest_article: dict[str, Any] | None = None

    @property
    def rise(self) -> int:
        return self.count - self.previous


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    questions: int
    answered: int
    handed_off: int
    #: Share of questions the bot answered itself; None with no questions.
    resolution_rate: float | None
    previous: dict[str, Any]
    #: resolution_rate minus the previous period's, in points of share (None if either is).
    resolution_rate_change: float | None
    suggestions: int
    handoffs: int
    handoffs_by_reason: dict[str, int]
    #: Day (YYYY-MM-DD, UTC) -> reason -> handoffs created that day.
    handoffs_by_day: dict[str, dict[str, int]]
    #: Day -> {"answered": n, "handed_off": n} for questions.
    questions_by_day: dict[str, dict[str, int]]
    handoffs_resolved: int
    handoffs_open: int
    feedback: dict[str, int]
    helpful_rate: float | None
    #: Of the suggestions agents acted on: sent as is, edited, discarded, and the rates.
    agent_actions: dict[str, int]
    edit_rate: float | None
    discard_rate: float | None
    latency_ms: dict[str, int | None]
    #: Satisfaction ratings of the period, for conversations the bot answered alone ("bot") and
    #: those a human agent wrote in ("agent"): count, average score, share of 4-5.
    csat: dict[str, dict[str, float | int | None]]
    grouping: str
    hot_questions: list[Group]
    rising: list[Group]
    gaps: list[Group]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        for name in ("hot_questions", "rising", "gaps"):
            for item, group in zip(data[name], getattr(self, name), strict=True):
                item["rise"] = group.rise
        return data


@dataclass(frozen=True)
class _Question:
    text: str
    action: str
    reason: str | None
    created_at: datetime
    current: bool


def build_report(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    embedder: Embedder | None = None,
    retriever: Retriever | None = None,
    threshold: float = GROUP_THRESHOLD,
    top: int = 10,
) -> Report:
    """The report for ``[start, end)``, compared with the period of the same length before.

    With an ``embedder`` questions are grouped by meaning, else by their normalised text;
    with a ``retriever`` each gap names the closest help-center article.
    """
    start, end = _checked_period(start, end)
    before = start - (end - start)
    rows = _read_rows(store, before=before, start=start, end=end)
    questions = [
        _Question(a.question, a.action, a.reason, a.created_at, a.created_at >= start)
        for a in rows.answers
        if a.mode == "answer"
    ]
    latencies = sorted(
        int(a.latency_ms)
        for a in rows.answers
        if a.mode == "answer" and a.created_at >= start and a.latency_ms is not None
    )
    return Report(
        start=start,
        end=end,
        **_question_figures(questions, before=before, start=start),
        suggestions=sum(1 for a in rows.answers if a.mode == "suggest" and a.created_at >= start),
        **_handoff_figures(rows.handoffs),
        **_feedback_figures(Counter(str(f.kind) for f in rows.feedback)),
        latency_ms={"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "count": len(latencies)},
        csat={who: _csat([int(r.score) for r in rows.ratings if r.handled_by == who]) for who in ("bot", "agent")},
        **_question_groups(questions, embedder=embedder, retriever=retriever, threshold=threshold, top=top),
    )


def _checked_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``start`` and ``end`` in UTC, refused unless both are aware and in order."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None:
            raise BadInputError(f"{name}: give a timezone-aware time, not {moment.isoformat()}")
    if end <= start:
        raise BadInputError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class _Rows:
    """What the report reads: answers since ``before`` (both periods), the rest of the period alone."""

    answers: Sequence[Any]
    handoffs: Sequence[Any]
    feedback: Sequence[Any]
    ratings: Sequence[Any]


def _read_rows(store: Store, *, before: datetime, start: datetime, end: datetime) -> _Rows:
    with Session(store.engine) as session:
        answers = session.execute(
            select(Answer.question, Answer.action, Answer.reason, Answer.mode, Answer.latency_ms, Answer.created_at)
            .where(Answer.created_at >= before, Answer.created_at < end)
            .order_by(Answer.created_at, Answer.id)
        ).all()
        handoffs = session.execute(
            select(Handoff.reason, Handoff.status, Handoff.created_at).where(
                Handoff.created_at >= start, Handoff.created_at < end
            )
        ).all()
        feedback = session.execute(
            select(Feedback.kind).where(Feedback.created_at >= start, Feedback.created_at < end)
        ).all()
        ratings = session.execute(
            select(CsatRating.handled_by, CsatRating.score).where(
                CsatRating.created_at >= start, CsatRating.created_at < end
            )
        ).all()
    return _Rows(answers=answers, handoffs=handoffs, feedback=feedback, ratings=ratings)


def _question_figures(questions: Sequence[_Question], *, before: datetime, start: datetime) -> dict[str, Any]:
    """Questions answered and handed off, per day, and the resolution rate against the period before."""
    now = [q for q in questions if q.current]
    then = [q for q in questions if not q.current]
    answered = sum(q.action == "answer" for q in now)
    rate = answered / len(now) if now else None
    prev_answered = sum(q.action == "answer" for q in then)
    prev_rate = prev_answered / len(then) if then else None
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for q in now:
        by_day[_day(q.created_at)]["answered" if q.action == "answer" else "handed_off"] += 1
    return {
        "questions": len(now),
        "answered": answered,
        "handed_off": len(now) - answered,
        "resolution_rate": rate,
        "previous": {
            "start": before.isoformat(),
            "end": start.isoformat(),
            "questions": len(then),
            "answered": prev_answered,
            "resolution_rate": prev_rate,
        },
        "resolution_rate_change": rate - prev_rate if rate is not None and prev_rate is not None else None,
        "questions_by_day": {
            day: {"answered": c["answered"], "handed_off": c["handed_off"]} for day, c in sorted(by_day.items())
        },
    }


def _handoff_figures(handoffs: Sequence[Any]) -> dict[str, Any]:
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for h in handoffs:
        by_day[_day(h.created_at)][h.reason] += 1
    return {
        "handoffs": len(handoffs),
        "handoffs_by_reason": dict(Counter(h.reason for h in handoffs).most_common()),
        "handoffs_by_day": {day: dict(c.most_common()) for day, c in sorted(by_day.items())},
        "handoffs_resolved": sum(h.status == "resolved" for h in handoffs),
        "handoffs_open": sum(h.status != "resolved" for h in handoffs),
    }


def _feedback_figures(kinds: Counter[str]) -> dict[str, Any]:
    """Votes on answers and what agents did with suggestions."""
    votes = kinds["helpful"] + kinds["not_helpful"]
    acted = sum(kinds[k] for k in AGENT_ACTIONS)
    return {
        "feedback": dict(sorted(kinds.items())),
        "helpful_rate": kinds["helpful"] / votes if votes else None,
        "agent_actions": {k: kinds[k] for k in AGENT_ACTIONS},
        "edit_rate": kinds["edited"] / acted if acted else None,
        "discard_rate": kinds["discarded"] / acted if acted else None,
    }


def _question_groups(
    questions: Sequence[_Question],
    *,
    embedder: Embedder | None,
    retriever: Retriever | None,
    threshold: float,
    top: int,
) -> dict[str, Any]:
    """Hot, rising and gap questions, grouped over both periods."""
    labels = _group_labels([q.text for q in questions], embedder, threshold)
    hot = _groups(questions, labels)
    gap_questions = [
        (q, label)
        for q, label in zip(questions, labels, strict=True)
        if q.action == "handoff" and q.reason in GAP_REASONS
    ]
    gaps = _groups([q for q, _ in gap_questions], [label for _, label in gap_questions], with_reasons=True)
    gaps = [g for g in gaps if g.count][:top]
    if retriever is not None:
        gaps = [_with_article(g, retriever) for g in gaps]
    return {
        "grouping": "meaning" if embedder is not None else "text",
        "hot_questions": [g for g in hot if g.count][:top],
        "rising": sorted((g for g in hot if g.rise > 0), key=lambda g: (-g.rise, -g.count))[:top],
        "gaps": gaps,
    }


def _csat(scores: Sequence[int]) -> dict[str, float | int | None]:
    """Count, average (1-5) and share of satisfied (4 or 5) ratings."""
    if not scores:
        return {"count": 0, "average": None, "satisfied_rate": None}
    return {
        "count": len(scores),
        "average": round(sum(scores) / len(scores), 2),
        "satisfied_rate": sum(s >= 4 for s in scores) / len(scores),
    }


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank ``p``-th percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return int(values[rank - 1])


def group_questions(texts: Sequence[str], embedder: Embedder | None, threshold: float = GROUP_THRESHOLD) -> list[int]:
    """A group label per text: same label, same question (by meaning with an embedder)."""
    return _group_labels(list(texts), embedder, threshold)


def _group_labels(texts: list[str], embedder: Embedder | None, threshold: float) -> list[int]:
    if not texts:
        return []
    if embedder is None:
        keys: dict[str, int] = {}
        return [keys.setdefault(_text_key(t), len(keys)) for t in texts]
    vectors = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # Leader clustering against each group's running centroid: one pass, deterministic,
    # and a group never drifts far from its first questions.
    sums: list[np.ndarray] = []
    labels: list[int] = []
    for v in vectors:
        best, best_sim = -1, threshold
        if sums:
            centroids = np.stack(sums)
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
            sims = centroids @ v
            i = int(np.argmax(sims))
            if sims[i] >= best_sim:
                best = i
        if best < 0:
            sums.append(v.copy())
            labels.append(len(sums) - 1)
        else:
            sums[best] += v
            labels.append(best)
    return labels


def _text_key(text: str) -> str:
    folded = normalise(text).casefold()
    return re.sub(r"[\W_]+", "", folded) or folded


def _groups(questions: Sequence[_Question], labels: Sequence[int], *, with_reasons: bool = False) -> list[Group]:
    members: dict[int, list[_Question]] = defaultdict(list)
    for q, label in zip(questions, labels, strict=True):
        members[label].append(q)
    groups = []
    for items in members.values():
        current = [q for q in items if q.current]
        texts = Counter(q.text for q in current) or Counter(q.text for q in items)
        examples = [t for t, _ in texts.most_common(MAX_EXAMPLES)]
        groups.append(
            Group(
                question=examples[0],
                count=len(current),
                previous=len(items) - len(current),
                examples=examples,
                reasons=dict(Counter(str(q.reason) for q in current).most_common()) if with_reasons else {},
            )
        )
    return sorted(groups, key=lambda g: (-g.count, -g.rise, g.question))


def _with_article(group: Group, retriever: Retriever) -> Group:
    from service.retriever import SearchFilters

    hits = retriever.search(group.question, k=1, filters=SearchFilters(kind="article")).hits
    if not hits:
        return group
    hit = hits[0]
    article = {"path": hit.doc_id, "title": hit.title, "url": hit.url, "score": round(float(hit.score), 4)}
    return Group(**{**_fields(group), "closest_article": article})


def _fields(group: Group) -> dict[str, Any]:
    return {name: getattr(group, name) for name in group.__dataclass_fields__}


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
