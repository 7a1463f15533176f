"""Curated answers: question -> answer pairs an admin wrote, answered as written.

A user question whose e5 query embedding is close enough (:data:`MATCH_THRESHOLD`) to one
of a curated answer's questions gets that answer, in the user's language, cited as curated,
before any retrieval, then the help-center articles the admin linked, cited as any answer's
articles are (title and URL from the served index; :func:`check_articles` refuses a link that
names no article of it). The answers live in the store: :class:`CuratedMatcher` reloads them
when they change (any replica's change, at the next question), embeds each question once
with the retriever's embedder, and counts every use.

    matcher = CuratedMatcher(store, embedder)
    match = matcher.match("钱包密码忘了怎么办", "zh")   # CuratedMatch or None

The threshold was measured on the eval datasets (``bench/curated_threshold.py``,
docs/analytics.md): no question of another topic may match.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from kefu.errors import InvalidFieldError, KefuError, NotReadyError
from service.safety import passage_problems

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ingest.index import DocumentRecord, IndexVersion
    from kefu.embedder import Embedder
    from service.answerer import AnswerResult, Citation
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


def find_article(index: IndexVersion, ref: str) -> DocumentRecord | None:
    """The help article of ``index`` that ``ref`` names, by its path in the corpus (as a
    citation's ``source`` shows it) or by its URL; ``None`` for anything else, a past
    ticket included (tickets are never shown to users)."""
    found = index.document_by_path.get(ref)
    if found is None and ref.startswith(("http://", "https://")):
        found = next((d for d in index.documents if d.url == ref), None)
    return found if found is not None and found.kind == "article" else None


def check_articles(articles: Sequence[str] | None, index: IndexVersion | None, *, why_none: str = "") -> None:
    """Refuse an article link that names no article of ``index`` (the served one), naming
    the entry, its value and the closest path the index has. Without an index nothing can
    be checked, so any link is refused (:class:`NotReadyError`, saying ``why_none``); an
    answer without articles needs no index."""
    refs = [(i, a.strip()) for i, a in enumerate(articles or ()) if a and a.strip()]
    if not refs:
        return
    if index is None:
        raise NotReadyError(
            f"articles[{refs[0][0]}]: {refs[0][1]!r} cannot be checked: {why_none or 'no index is loaded'}; "
            "save the answer without articles until there is an index"
        )
    name = index.manifest.name
    for i, ref in refs:
        if find_article(index, ref) is not None:
            continue
        if ref in index.document_by_path:  # a ticket: customers' words, never cited to users
            raise InvalidFieldError(
                f"articles[{i}]: {ref!r} is a past ticket in index {name!r}, not a help article", field="articles"
            )
        paths = [p for d in index.documents if d.kind == "article" for p in d.paths]
        close = difflib.get_close_matches(ref, paths, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; give an article's path in the corpus or its URL"
        raise InvalidFieldError(f"articles[{i}]: {ref!r} is no article of index {name!r}{hint}", field="articles")


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
    index: IndexVersion | None,
    question: str,
    standalone: str,
    redactions: Mapping[str, int],
    elapsed_ms: float,
) -> AnswerResult:
    """The answer result for a matched curated answer: its text as written, cited as
    curated (source ``curated/<id>``, kind ``curated``), then the articles it links as
    :func:`article_citations` finds them in ``index``."""
    from service.answerer import AnswerResult, Citation
    from service.confidence import Evidence

    record = match.curated
    citations = [
        Citation(
            n=1, source=f"curated/{record.id}", title=match.question, url=None,
            snippet=match.answer[:160], kind="curated",
        )
    ]  # fmt: skip
    citations += article_citations(record, index, match.lang, start=2)
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


def article_citations(record: CuratedRecord, index: IndexVersion | None, lang: str, *, start: int) -> list[Citation]:
    """The curated answer's articles as citations numbered from ``start``: each with its title,
    URL and opening passage from ``index``, in ``lang`` where the help center has that article
    translated (as a searched answer quotes the translation). A link the index no longer has
    (the article was removed, or it was stored before links were checked) is left out, logged:
    a user is never shown a bare path."""
    from service.answerer import Citation
    from service.retriever import snippet

    citations: list[Citation] = []
    seen: set[str] = set()
    for ref in record.articles:
        document = find_article(index, ref) if index is not None else None
        if index is None or document is None:
            log.warning("curated answer %d links %r, which the served index does not have: left out", record.id, ref)
            continue
        document = index.translation(document.paths, document.lang, lang) or document
        if document.doc_id in seen:
            continue
        seen.add(document.doc_id)
        opening = index.chunks[document.chunk_start].text if document.chunk_count else ""
        citations.append(
            Citation(
                n=start + len(citations), source=document.doc_id, title=document.title, url=document.url,
                snippet=snippet(opening, document.title), kind="article",
            )
        )  # fmt: skip
    return citations


def _normalised(vectors: Any) -> NDArray[np.float32]:
    v: NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v
