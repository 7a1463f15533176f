"""Hybrid search: dense (FAISS over e5 vectors) + sparse (BM25 over Chinese-aware tokens),
fused, aggregated to documents, with the per-hit evidence the confidence step uses."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np

from kefu.errors import BadInputError
from kefu.text import TOKENS_VERSION, char_bigrams, detect_language, normalise, tokens
from kefu.vocab import MAX_QUESTION_CHARS
from service.glossary import Expansion

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ingest.index import IndexVersion
    from kefu.embedder import Embedder
    from kefu.settings import Settings
    from service.glossary import Glossary

Fusion = Literal["rrf", "score", "dense", "sparse"]
FUSIONS: tuple[Fusion, ...] = ("rrf", "score", "dense", "sparse")
DEFAULT_FUSION: Fusion = "score"
MAX_QUERY_CHARS = MAX_QUESTION_CHARS  # a query is a question
#: Below this share of the documents searched, a question's language is foreign to them.
FOREIGN_SHARE = 0.05
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchFilters:
    lang: str | None = None
    kind: str | None = None  # "article" | "ticket"
    category: str | None = None

    def is_empty(self) -> bool:
        return not (self.lang or self.kind or self.category)


@dataclass
class DocumentHit:
    """One document in the results, with the evidence behind its place."""

    doc_id: str
    paths: list[str]
    title: str
    kind: str
    lang: str
    category: str | None
    url: str | None
    score: float
    #: Cosine of the query to the document's best chunk (None: not among dense candidates).
    dense_score: float | None
    #: BM25 score of the document's best chunk (None: no query term matched).
    sparse_score: float | None
    dense_rank: int | None
    sparse_rank: int | None
    heading_path: list[str]
    passage: str
    snippet: str
    chunk: int
    meta: dict[str, object] = field(default_factory=dict)
    #: Rank of the document's title among titles by cosine to the query.
    title_rank: int | None = None

    @property
    def heading(self) -> str:
        """The last heading of the passage's path ("" for none)."""
        return _last_heading(self.heading_path)


@dataclass
class SearchResult:
    query: str
    lang: str
    expansion: list[str]
    hits: list[DocumentHit]
    timings_ms: dict[str, float]


@runtime_checkable
class Retriever(Protocol):
    """What the answerer needs of search: one index version, searched with its embedder."""

    index: IndexVersion
    #: The embedder questions are searched with (the index's adapter on top, if it has one).
    embedder: Embedder
    #: The embedder without the index's adapter: sentence matching and the confidence's
    #: cosine thresholds were set on it (the adapter was trained for passages only).
    plain_embedder: Embedder
    fusion: Fusion
    #: The wallet terms in both languages (search expands questions with them), if any.
    glossary: Glossary | None

    def warm_up(self) -> None:
        """Load models and indexes now, so the first question does not wait for them."""
        ...

    def search(self, query: str, *, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
        """The ``k`` best documents for ``query``."""
        ...

    def word_rarity(self, words: Sequence[str]) -> dict[str, float]:
        """How rare each search token (:func:`kefu.text.tokens`) is among the index's passages."""
        ...


class Passage(NamedTuple):
    """One section of a document, as the index holds it."""

    heading: str  # the last heading of its path ("" for none)
    text: str


def document_sections(index: IndexVersion, hit: DocumentHit, limit: int = 8) -> list[Passage]:
    """The sections of ``hit``'s document in their order with their headings, from at most
    ``limit`` of its chunks around the hit's own (only the hit's where the index does not hold
    its chunks). Consecutive chunks under one heading path are one section: ingest cuts a long
    section into chunks, and its steps and its conclusion go on in the next (docs/answers.md)."""
    chunks = index.chunks
    if not 0 <= hit.chunk < len(chunks):
        return [Passage(hit.heading, hit.passage)]
    record = index.documents[chunks[hit.chunk].doc]
    end = record.chunk_start + record.chunk_count
    start = max(record.chunk_start, min(hit.chunk - limit // 2, end - limit))
    sections: list[tuple[tuple[str, ...], str]] = []
    for chunk in chunks[start : min(end, start + limit)]:
        path = tuple(chunk.heading_path)
        if sections and sections[-1][0] == path:
            sections[-1] = (path, _joined(sections[-1][1], chunk.text))
        else:
            sections.append((path, chunk.text))
    return [Passage(_last_heading(path), text) for path, text in sections]


#: A lower hit counts as a contender (a source of the answer, a related article of a handoff)
#: only when search scores it at least this share of the top hit (score fusion, the default):
#: further below it was mostly unrelated clutter in blind review (docs/answers.md).
CONTENDER_SHARE = 0.75


def contenders(hits: Sequence[DocumentHit]) -> list[DocumentHit]:
    """The top hit and the lower ones search scores at least :data:`CONTENDER_SHARE` of it, in rank order."""
    if not hits:
        return []
    return [hits[0], *(h for h in hits[1:] if h.score >= CONTENDER_SHARE * hits[0].score)]


def in_language(retriever: Retriever, query: str, hits: list[DocumentHit], lang: str) -> list[DocumentHit]:
    """``hits`` with each article that the help center also has in ``lang`` replaced by that
    translation, found by a search in ``lang`` alone (so it comes with its own best passage).

    Quoting the user's language beats rendering another: the help center's own wording, and
    no LLM. Nothing changes unless the top article has a translation; a translation the search in
    ``lang`` does not rank in its top ten is not taken."""
    twins = {
        h.doc_id: twin.doc_id
        for h in hits
        if h.lang != lang and (twin := retriever.index.translation(h.paths, h.lang, lang)) is not None
    }
    # The answer is the top article's: with it untranslated, it is rendered from its own
    # language, and a translated second source would mix two languages.
    if not hits or hits[0].doc_id not in twins:
        return hits
    own = {h.doc_id: h for h in retriever.search(query, k=10, filters=SearchFilters(kind="article", lang=lang)).hits}
    out: list[DocumentHit] = []
    for h in hits:
        chosen = own.get(twins.get(h.doc_id, ""), h)
        if all(o.doc_id != chosen.doc_id for o in out):
            out.append(chosen)
    return out


def _joined(text: str, following: str) -> str:
    """``text`` and the chunk ``following`` it, without the line ingest carried over into both
    (the chunks overlap by a line, so a section read whole would say it twice)."""
    last = text.rsplit("\n", 1)[-1]
    first, _, rest = following.partition("\n")
    if first != last:
        return f"{text}\n{following}"
    return f"{text}\n{rest}" if rest else text


def _last_heading(path: Sequence[str]) -> str:
    return path[-1] if path else ""


@dataclass
class _Query:
    """A question as search sees it: its language, glossary expansion and the rows it may match."""

    text: str
    lang: str
    expansion: list[str]
    concepts: list[list[str]]
    expanded: str
    doc_mask: NDArray[np.bool_] | None
    chunk_ok: NDArray[np.bool_] | None
    #: How many candidates each ranking keeps.
    pool: int


@dataclass
class _Rankings:
    """Each ranking's documents, best first: (score, best chunk) for chunk rankings, score for the rest."""

    dense: dict[int, tuple[float, int]] = field(default_factory=dict)
    title_dense: dict[int, float] = field(default_factory=dict)
    sparse: dict[int, tuple[float, int]] = field(default_factory=dict)
    title_sparse: dict[int, float] = field(default_factory=dict)
    bigram: dict[int, float] = field(default_factory=dict)


class HybridRetriever:
    """Searches one index version. Thread-safe for concurrent searches (read-only).

    Construction reads the index's tables; :meth:`warm_up` (or else the first search) checks
    the embedder against the index, loads an adapter and the FAISS indexes.
    """

    def __init__(
        self,
        index: IndexVersion,
        embedder: Embedder,
        *,
        glossary: Glossary | None = None,
        fusion: Fusion = DEFAULT_FUSION,
        candidates: int = 400,
        rrf_k: int = 20,
        dense_weight: float = 1.0,
        sparse_weight: float = 1.0,
        title_weight: float = 0.5,
        bigram_weight: float = 1.0,
        ticket_weight: float = 0.7,
        score_spread: float = 10.0,
        check_embedder: bool = True,
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}")
        if candidates <= 0 or rrf_k <= 0:
            raise ValueError("candidates and rrf_k must be above 0")
        self.index = index
        self.glossary = glossary
        self.fusion: Fusion = fusion
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.sparse_weight = sparse_weight
        self.title_weight = title_weight
        # BM25 over words and Chinese character pairs, for questions jieba cuts differently from the articles
        # (weights measured in docs/search.md).
        self.bigram_weight = bigram_weight
        # Past tickets support an answer; help articles are the answer.
        self.ticket_weight = ticket_weight
        # Score fusion: how far below the best a cosine may be and still count (docs/search.md).
        self.score_spread = score_spread
        self.plain_embedder: Embedder = embedder.base
        self.embedder: Embedder = _embedder_for(index, embedder)
        self._check_embedder = check_embedder
        self._ready = False
        self._ready_lock = threading.Lock()
        _warn_if_old_tokens(index)
        docs = index.documents
        self._doc_lang = np.array([d.lang for d in docs])
        self._lang_counts = Counter(d.lang for d in docs)
        self._doc_kind = np.array([d.kind for d in docs])
        self._doc_category = np.array([d.category or "" for d in docs])
        self._vocab = index.sparse.vocab_dict
        self._title_vocab = index.title_sparse.vocab_dict
        self._bigram_vocab = index.bigram_sparse.vocab_dict
        # BM25's matrix has a column a word, one entry per passage that holds it.
        self._passages_with = np.diff(np.asarray(index.sparse.scores["indptr"]))
        self._passage_count = int(index.sparse.scores["num_docs"])

    def warm_up(self) -> None:
        """Check the embedder, load the adapter and indexes, and run one query so lazy loads
        (jieba's dictionary, opencc) happen now."""
        self.search("转账 transfer", k=1)

    def word_rarity(self, words: Sequence[str]) -> dict[str, float]:
        """BM25's idf of each word (Lucene's, as the index scores with): a word no passage has
        is the rarest."""
        n = self._passage_count
        out: dict[str, float] = {}
        for word in words:
            column = self._vocab.get(word, len(self._passages_with))
            holding = int(self._passages_with[column]) if column < len(self._passages_with) else 0
            out[word] = float(np.log1p((n - holding + 0.5) / (holding + 0.5)))
        return out

    def _prepare(self) -> None:
        """Once: refuse an embedder other than the index's, name a damaged adapter, load FAISS."""
        with self._ready_lock:
            if self._ready:
                return
            if self._check_embedder:
                from ingest.index import PROBE_TEXT

                plain = self.plain_embedder
                self.index.check_embedder(plain.model_id, plain.embed_passages([PROBE_TEXT])[0])
            if self.embedder is not self.plain_embedder:
                self.embedder.warm_up()  # a damaged adapter is named now, not at the first question
            _ = (self.index.dense, self.index.title_dense)
            self._ready = True

    def _foreign(self, lang: str, doc_mask: NDArray[np.bool_] | None) -> bool:
        """Whether hardly any of the documents searched (under 5%) are in ``lang``."""
        if doc_mask is None:
            n, in_lang = len(self._doc_lang), self._lang_counts.get(lang, 0)
        else:
            n, in_lang = int(doc_mask.sum()), int((doc_mask & (self._doc_lang == lang)).sum())
        return in_lang < FOREIGN_SHARE * n

    def _doc_mask(self, filters: SearchFilters) -> NDArray[np.bool_] | None:
        if filters.is_empty():
            return None
        mask = np.ones(len(self.index.documents), dtype=bool)
        if filters.lang:
            mask &= self._doc_lang == filters.lang
        if filters.kind:
            mask &= self._doc_kind == filters.kind
        if filters.category:
            mask &= self._doc_category == filters.category
        return mask

    def search(self, query: str, *, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
        """The ``k`` best documents for ``query``."""
        query = _valid_query(query, k)
        self._prepare()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        q = self._read_query(query, filters or SearchFilters())
        rankings = _Rankings()
        if self.fusion != "sparse":
            self._rank_dense(q, rankings, timings)
        if self.fusion != "dense":
            t = time.perf_counter()
            self._rank_sparse(q, rankings)
            timings["sparse"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        hits = self._best_hits(q, rankings, k)
        timings["fuse"] = (time.perf_counter() - t) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query=query, lang=q.lang, expansion=q.expansion, hits=hits, timings_ms=timings)

    def _read_query(self, query: str, filters: SearchFilters) -> _Query:
        lang = detect_language(query)
        expanded_by = self.glossary.expand(normalise(query), lang) if self.glossary else Expansion([], [])
        expansion = expanded_by.terms
        doc_mask = self._doc_mask(filters)
        chunk_ok = doc_mask[self.index.chunk_doc] if doc_mask is not None else None
        return _Query(
            text=query,
            lang=lang,
            expansion=expansion,
            concepts=expanded_by.concepts,
            expanded=query if not expansion else f"{query} {' '.join(expansion)}",
            doc_mask=doc_mask,
            chunk_ok=chunk_ok,
            pool=self._pool(chunk_ok),
        )

    def _pool(self, chunk_ok: NDArray[np.bool_] | None) -> int:
        """How many chunks each ranking reads: ``candidates`` of those a filter lets through, so a
        filter that lets every chunk through ranks as no filter does (the answerer searches
        articles only, the eval everything: both must see one ranking)."""
        n_chunks = len(self.index.chunks)
        passing = n_chunks if chunk_ok is None else int(chunk_ok.sum())
        return min(n_chunks, math.ceil(self.candidates * n_chunks / max(passing, 1)))

    def _rank_dense(self, q: _Query, out: _Rankings, timings: dict[str, float]) -> None:
        """Documents by the cosine of their best chunk, and by their title's."""
        t = time.perf_counter()
        qv = self.embedder.embed_queries([q.expanded])
        timings["embed"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        scores, ids = self.index.dense.search(qv, q.pool)
        for score, cid in zip(scores[0].tolist(), ids[0].tolist(), strict=True):
            if cid < 0 or (q.chunk_ok is not None and not q.chunk_ok[cid]):
                continue
            out.dense.setdefault(int(self.index.chunk_doc[cid]), (float(score), cid))
        if self.title_weight:
            n_docs = len(self.index.documents)
            tscores, tids = self.index.title_dense.search(qv, min(n_docs, q.pool))
            for score, d in zip(tscores[0].tolist(), tids[0].tolist(), strict=True):
                if d >= 0 and (q.doc_mask is None or q.doc_mask[d]):
                    out.title_dense[d] = float(score)
        timings["dense"] = (time.perf_counter() - t) * 1000

    def _rank_sparse(self, q: _Query, out: _Rankings) -> None:
        """Documents by BM25: of their best chunk, their title, and words with character pairs."""
        q_tokens = tokens(q.expanded)
        concept_tokens = [[tokens(form) for form in forms] for forms in q.concepts]
        known = [tok for tok in q_tokens if tok in self._vocab]
        if known:
            scores_all = _bm25_scores(self.index.sparse, known, concept_tokens)
            for cid, s in _top_positive(scores_all, q.chunk_ok, q.pool):
                out.sparse.setdefault(int(self.index.chunk_doc[cid]), (s, cid))
        known_titles = [tok for tok in q_tokens if tok in self._title_vocab]
        if self.title_weight and known_titles:
            title_scores = _bm25_scores(self.index.title_sparse, known_titles, concept_tokens)
            out.title_sparse = dict(_top_positive(title_scores, q.doc_mask, q.pool))
        # Pairs help a question in another language only where hardly any documents are in it
        # (its Chinese is then the glossary's); docs/search.md has the figures.
        if self.bigram_weight and (q.lang == "zh" or self._foreign(q.lang, q.doc_mask)):
            known_pairs = [tok for tok in q_tokens + char_bigrams(q.expanded) if tok in self._bigram_vocab]
            if known_pairs:
                pair_scores = self.index.bigram_sparse.get_scores(known_pairs)
                for cid, s in _top_positive(pair_scores, q.chunk_ok, q.pool):
                    out.bigram.setdefault(int(self.index.chunk_doc[cid]), s)

    def _best_hits(self, q: _Query, r: _Rankings, k: int) -> list[DocumentHit]:
        """Fuse the rankings, weigh tickets down, and describe the ``k`` best documents."""
        fused = self._fuse(
            [
                ({d: s for d, (s, _) in r.dense.items()}, self.dense_weight, False),
                ({d: s for d, (s, _) in r.sparse.items()}, self.sparse_weight, True),
                (r.title_dense, self.title_weight * self.dense_weight, False),
                (r.title_sparse, self.title_weight * self.sparse_weight, True),
                (r.bigram, self.bigram_weight * self.sparse_weight, True),
            ]
        )
        if self.ticket_weight != 1.0:
            fused = {d: v * (self.ticket_weight if self._doc_kind[d] == "ticket" else 1.0) for d, v in fused.items()}
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        ranks = _Ranks(
            dense={d: n for n, d in enumerate(r.dense, start=1)},
            sparse={d: n for n, d in enumerate(r.sparse, start=1)},
            title={d: n for n, d in enumerate(r.title_dense, start=1)},
        )
        return [self._hit(d, score, q, r, ranks) for d, score in best]

    def _hit(self, d: int, score: float, q: _Query, r: _Rankings, ranks: _Ranks) -> DocumentHit:
        record = self.index.documents[d]
        dense, sparse = r.dense.get(d), r.sparse.get(d)
        # The passage to show: the chunk that ranked the document higher.
        if dense and sparse:
            cid = dense[1] if ranks.dense[d] <= ranks.sparse[d] else sparse[1]
        else:
            cid = (dense or sparse or (0.0, record.chunk_start))[1]
        chunk = self.index.chunks[cid]
        return DocumentHit(
            doc_id=record.doc_id,
            paths=record.paths,
            title=record.title,
            kind=record.kind,
            lang=record.lang,
            category=record.category,
            url=record.url,
            score=round(score, 6),
            dense_score=round(dense[0], 4) if dense else None,
            sparse_score=round(sparse[0], 4) if sparse else None,
            dense_rank=ranks.dense.get(d),
            sparse_rank=ranks.sparse.get(d),
            heading_path=chunk.heading_path,
            passage=chunk.text,
            snippet=snippet(chunk.text, q.expanded),
            chunk=cid,
            meta=record.meta,
            title_rank=ranks.title.get(d),
        )

    def _fuse(self, rankings: list[tuple[dict[int, float], float, bool]]) -> dict[int, float]:
        """Combine rankings (document -> score, weight, is_bm25), each already ordered."""
        out: dict[int, float] = {}
        if self.fusion == "dense":
            return dict(rankings[0][0])
        if self.fusion == "sparse":
            return dict(rankings[1][0])
        for scores, weight, is_bm25 in rankings:
            if not weight or not scores:
                continue
            if self.fusion == "rrf":
                for rank, d in enumerate(sorted(scores, key=lambda x: -scores[x]), start=1):
                    out[d] = out.get(d, 0.0) + weight / (self.rrf_k + rank)
            else:
                top = max(scores.values())
                for d, value in scores.items():
                    norm = value / top if is_bm25 else 1.0 - (top - value) * self.score_spread
                    out[d] = out.get(d, 0.0) + weight * max(norm, 0.0)
        return out


@dataclass
class _Ranks:
    """Each document's place (from 1) in the dense, BM25 and title rankings."""

    dense: dict[int, int]
    sparse: dict[int, int]
    title: dict[int, int]


def _valid_query(query: str, k: int) -> str:
    query = query.strip()
    if not query:
        raise BadInputError("query: must not be empty")
    if len(query) > MAX_QUERY_CHARS:
        raise BadInputError(f"query: longer than {MAX_QUERY_CHARS} characters")
    if k <= 0:
        raise BadInputError("k: must be at least 1")
    return query


def _embedder_for(index: IndexVersion, embedder: Embedder) -> Embedder:
    """The embedder questions are searched with: an index built with an adapter
    (``kefu ingest --adapt``) embeds them with it too (loaded at warm-up)."""
    adapter = index.adapter_path
    if adapter is None:
        return embedder.base
    if embedder.adapter == adapter:
        return embedder
    try:
        return embedder.base.adapted(adapter)
    except BadInputError:
        raise BadInputError(
            f"index {index.manifest.name!r} was built with an adapted embedder "
            f"(`kefu ingest --adapt`); {type(embedder.base).__name__} cannot load its adapter"
        ) from None


def _warn_if_old_tokens(index: IndexVersion) -> None:
    if index.manifest.tokens_version != TOKENS_VERSION:
        # Still searchable (the question's tokens mostly meet the old ones), but not as
        # built today: the next ingest rebuilds the BM25 indexes without embedding again.
        log.warning(
            "index %r has BM25 tokens of version %s, this kefu makes version %s: "
            "run `kefu ingest` again to rebuild them (no re-embedding)",
            index.manifest.name,
            index.manifest.tokens_version,
            TOKENS_VERSION,
        )


#: Per glossary concept a question names, per form of it, that form's tokens.
_ConceptTokens = list[list[list[str]]]


def _bm25_scores(bm25: Any, known: list[str], concepts: _ConceptTokens) -> NDArray[np.float32]:
    """BM25 scores for the question's tokens ``known`` to the index: each token once, and each
    glossary concept the question names (the tokens of each of its forms) once, by the form
    that matches a passage best, not by all its forms added up (one idea named in two languages
    outweighed the page about the question's subject; docs/search.md has the example and figures)."""
    known_set = set(known)
    total: NDArray[np.float32] | None = None
    grouped: set[str] = set()
    for forms in concepts:
        present = [f for f in ([t for t in form if t in known_set] for form in forms) if f]
        if not present:
            continue
        grouped.update(t for form in present for t in form)
        best = np.maximum.reduce([bm25.get_scores(form) for form in present])
        total = best if total is None else total + best
    rest = [t for t in dict.fromkeys(known) if t not in grouped]
    if rest:
        scores = bm25.get_scores(rest)
        total = scores if total is None else total + scores
    assert total is not None  # known is not empty
    return np.asarray(total, dtype=np.float32)


def _top_positive(scores: NDArray[np.float32], mask: NDArray[np.bool_] | None, n: int) -> list[tuple[int, float]]:
    """The ``n`` best (row, score) pairs with a score above zero, best first."""
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    n = min(n, len(scores))
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def snippet(text: str, query: str, width: int = 160) -> str:
    """A window of ``text`` around its densest run of query terms."""
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= width:
        return flat
    terms = [t for t in set(tokens(query)) if len(t) > 1]
    best_pos, best_hits = 0, -1
    step = max(1, width // 4)
    low = flat.lower()
    for start in range(0, max(1, len(flat) - width + step), step):
        window = low[start : start + width]
        hits = sum(1 for t in terms if t in window)
        if hits > best_hits:
            best_pos, best_hits = start, hits
    piece = flat[best_pos : best_pos + width]
    return ("…" if best_pos > 0 else "") + piece + ("…" if best_pos + width < len(flat) else "")


def retriever_from_settings(
    settings: Settings,
    index_name: str | None = None,
    *,
    embedder: Embedder | None = None,
    fusion: Fusion | None = None,
) -> HybridRetriever:
    """Open the current version of an index with the configured embedder and glossary."""
    from ingest.index import open_index
    from kefu.embedder import embedder_from_settings
    from service.glossary import DEFAULT_GLOSSARY, Glossary

    index = open_index(settings.data_dir, index_name or settings.index_name)
    embedder = embedder or embedder_from_settings(settings)
    glossary = Glossary.load(settings.glossary_path or DEFAULT_GLOSSARY)
    return HybridRetriever(index, embedder, glossary=glossary, fusion=fusion or DEFAULT_FUSION)
