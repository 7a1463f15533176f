"""Curated answers: question -> answer pairs an admin wrote, answered as written.

A user question whose e5 query embedding is close enough (:data:`MATCH_THRESHOLD`) to one
of a curated answer's questions gets that answer, in the user's language, cited as curated,
before any retrieval. The answers live in the store: :class:`CuratedMatcher` reloads them
when they change (any replica's change, at the next question), embeds each question once
with the retriever's embedder, and counts every use.

    matcher = CuratedMatcher(store, embedder)
    match = matcher.match("钱包密码忘了怎么办", "zh")   # CuratedMatch or None

The threshold was measured on the eval datasets (``bench/curated_threshold.py``,
docs/analytics.md): no question of another topic may match.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from kefu.errors import InvalidFieldError, KefuError
from service.safety import passage_problems

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kefu.embedder import Embedder
    from service.answerer import AnswerResult
    from service.store import CuratedRecord, Store

log = logging.getLogger("kefu.curated")

#: Cosine of e5 query embeddings at or above which a question is a curated question's
#: paraphrase. The lowest threshold with no wrong match on the eval datasets
#: (bench/curated_threshold.py; rates in docs/analytics.md).
MATCH_THRESHOLD: Final = 0.955


@dataclass(frozen=True)
class CuratedMatch:
    curated: CuratedRecord
    lang: str
    score: float
    #: The curated question the user's question matched.
    question: str
    answer: str


def check_texts(fields: Mapping[str, Any], official_domains: Sequence[str]) -> None:
    """Refuse an answer kefu's output check would not show (a request for a secret, a
    promise of recovery, a link outside the official domains), naming the field and sentence."""
    for name in ("answer_zh", "answer_en", "answer"):
        text = fields.get(name)
        if not isinstance(text, str) or not text.strip():
            continue
        problems = passage_problems(text, official_domains)
        if problems:
            first = problems[0]
            raise InvalidFieldError(
                f"{name}: the sentence {first.sentence.strip()!r} would not be shown to users "
                f"({first.violation.kind}: {first.violation.detail})",
                field=name,
            )


class CuratedMatcher:
    """Matches questions against the store's enabled curated answers (thread-safe)."""

    def __init__(self, store: Store, embedder: Embedder, *, threshold: float = MATCH_THRESHOLD) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.store = store
        self.embedder = embedder
        self.threshold = threshold
        self._lock = threading.Lock()
        self._version: tuple[int, datetime | None] | None = None
        self._entries: list[CuratedRecord] = []
        #: One row per (entry, question): the entry's index and the question's language.
        self._rows: list[tuple[int, str, str]] = []
        self._matrix: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._vectors: dict[str, NDArray[np.float32]] = {}

    def _refresh(self) -> None:
        version = self.store.curated_version()
        with self._lock:
            if version == self._version:
                return
            entries = [e for e in self.store.list_curated(enabled=True)]
            rows = [(i, lang, q) for i, e in enumerate(entries) for lang, q in e.questions().items()]
            new = sorted({q for _, _, q in rows if q not in self._vectors})
            if new:
                vectors = _normalised(self.embedder.embed_queries(new))
                self._vectors.update(zip(new, vectors, strict=True))
            # Only the questions in use stay cached.
            self._vectors = {q: self._vectors[q] for _, _, q in rows}
            self._matrix = (
                np.stack([self._vectors[q] for _, _, q in rows]) if rows else np.zeros((0, 0), dtype=np.float32)
            )
            self._entries, self._rows, self._version = entries, rows, version

    def scores(self, question: str) -> list[tuple[CuratedRecord, str, float]]:
        """Every enabled curated answer with its closest question and that question's
        cosine to ``question``, best first."""
        self._refresh()
        with self._lock:
            entries, rows, matrix = self._entries, self._rows, self._matrix
        if not rows:
            return []
        v = _normalised(self.embedder.embed_queries([question]))[0]
        sims = matrix @ v
        best: dict[int, tuple[str, float]] = {}
        for (i, _, q), s in zip(rows, sims, strict=True):
            if i not in best or s > best[i][1]:
                best[i] = (q, float(s))
        ranked = sorted(best.items(), key=lambda item: -item[1][1])
        return [(entries[i], q, s) for i, (q, s) in ranked]

    def match(self, question: str, lang: str, *, count: bool = True) -> CuratedMatch | None:
        """The curated answer for ``question`` (redacted) in ``lang``, or ``None``.

        Counts the use (unless ``count`` is false). A store or embedder that fails means no match (logged): the
        question goes on to retrieval as if there were no curated answers."""
        try:
            ranked = self.scores(question)
        except KefuError as exc:
            log.warning("curated answers unavailable, answering without them: %s", exc)
            return None
        for record, matched, score in ranked:
            if score < self.threshold:
                break
            answer = record.answer_in(lang)
            if not answer:
                continue
            try:
                if count:
                    self.store.record_curated_hit(record.id)
            except KefuError as exc:
                log.warning("could not count the use of curated answer %d: %s", record.id, exc)
            return CuratedMatch(curated=record, lang=lang, score=score, question=matched, answer=answer)
        return None

    def search(self, query: str, *, k: int = 5) -> list[tuple[CuratedRecord, float]]:
        """For agents: the ``k`` curated answers closest to ``query``, whatever the threshold."""
        return [(record, score) for record, _, score in self.scores(query)[:k]]


def curated_result(
    match: CuratedMatch,
    *,
    question: str,
    standalone: str,
    redactions: Mapping[str, int],
    elapsed_ms: float,
) -> AnswerResult:
    """The answer result for a matched curated answer: its text as written, cited as
    curated (source ``curated/<id>``, kind ``curated``), then the articles it links."""
    from service.answerer import AnswerResult, Citation
    from service.confidence import Evidence

    record = match.curated
    citations = [
        Citation(
            n=1, source=f"curated/{record.id}", title=match.question, url=None,
            snippet=match.answer[:160], kind="curated",
        )
    ]  # fmt: skip
    for n, article in enumerate(record.articles, start=2):
        url = article if article.startswith(("http://", "https://")) else None
        citations.append(Citation(n=n, source=article, title=article, url=url, snippet="", kind="article"))
    return AnswerResult(
        question=question,
        standalone_question=standalone,
        lang=match.lang,
        answer=match.answer,
        citations=citations,
        confidence=round(min(1.0, max(0.0, match.score)), 4),
        action="answer",
        reason="curated",
        mode="curated",
        evidence=Evidence(),
        redactions=dict(redactions),
        timings_ms={"curated": elapsed_ms, "total": elapsed_ms},
    )


def _normalised(vectors: Any) -> NDArray[np.float32]:
    v: NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v
