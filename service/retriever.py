"""Hybrid search: dense (FAISS over e5 vectors) + sparse (BM25 over Chinese-aware tokens),
fused, aggregated to documents, with the per-hit evidence the confidence step uses."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kefu.errors import BadInputError
from kefu.text import TOKENS_VERSION, char_bigrams, detect_language, normalise, tokens
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
MAX_QUERY_CHARS = 2000
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


@dataclass
class SearchResult:
    query: str
    lang: str
    expansion: list[str]
    hits: list[DocumentHit]
    timings_ms: dict[str, float]


class HybridRetriever:
    """Searches one index version. Thread-safe for concurrent searches (read-only)."""

    def __init__(
        self,
        index: IndexVersion,
        embedder: Embedder,
        *,
        glossary: Glossary | None = None,
        fusion: Fusion = DEFAULT_FUSION,
        candidates: int = 100,
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
        self.embedder = embedder
        self.glossary = glossary
        self.fusion: Fusion = fusion
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.sparse_weight = sparse_weight
        self.title_weight = title_weight
        # A second BM25 ranking over words and Chinese character pairs, for Chinese questions
        # whose words jieba segments differently from the article's. Measured, weight 1
        # against 0 (hit@1 / hit@5): with score fusion, tp-cn 0.678 / 0.917 against
        # 0.633 / 0.900, the first tp-cn hold-out 0.733 / 0.900 against 0.700 / 0.900, the
        # demo 0.741 / 0.988 against 0.765 / 0.988; with reciprocal ranks, tp-cn hit@5 0.906
        # against 0.894. A question in another language gets it only where hardly any of the
        # documents searched are in that language (an English question over a Chinese help
        # centre): its Chinese is the glossary's, and where an English article exists the
        # pairs would pull Chinese ones above it. Over tp-cn this took English hit@1 from
        # 0.627 to 0.667 on 51 questions (the README has the hold-out sets' figures).
        self.bigram_weight = bigram_weight
        # Past tickets support an answer; help articles are the answer. A ticket ranks
        # above an article only when it matches clearly better.
        self.ticket_weight = ticket_weight
        # Score fusion: a BM25 score counts as its share of that ranking's best, a cosine
        # as 1 less ``score_spread`` times its distance below the best (e5's cosines sit on
        # a narrow 0.7-0.92 band: at 10, a passage 0.1 below the best adds nothing). It
        # keeps how far apart the scores are, which reciprocal ranks throw away, and beat
        # them (k = 20) on all three datasets with the same weights: tp-cn hit@1 0.650 ->
        # 0.678, hit@5 0.906 -> 0.917; the blind tp-cn hold-out 0.700 -> 0.733, 0.900 ->
        # 0.900; the demo 0.718 -> 0.741, 0.977 -> 0.988 (spread 5: 0.667, 0.700, 0.729).
        # An adapted index's cosines lie about five times wider apart (top to tenth 0.113
        # against 0.021 on average over the three dev sets' questions), yet 10 stays: hit@1
        # questions right of those 350 at spread 10, 14 and 20 were 244, 250, 250 with the
        # seed-0 adapter, 244, 243, 242 with a seed-1 one, 235, 234, 237 with the plain model.
        self.score_spread = score_spread
        base = getattr(embedder, "base", embedder)
        #: The embedder without the index's adapter: sentence matching and the confidence's
        #: cosine thresholds were set on it (the adapter was trained for passages only).
        self.plain_embedder: Embedder = base
        if check_embedder:
            from ingest.index import PROBE_TEXT

            index.check_embedder(getattr(base, "model_id", "?"), base.embed_passages([PROBE_TEXT])[0])
        # An index built with an adapter (``kefu ingest --adapt``) embeds questions with it too.
        adapter = index.adapter_path
        if adapter is None:
            self.embedder = base
        elif getattr(embedder, "adapter", None) != adapter:
            if not hasattr(base, "adapted"):
                raise BadInputError(
                    f"index {index.manifest.name!r} was built with an adapted embedder "
                    f"(`kefu ingest --adapt`); {type(base).__name__} cannot load its adapter"
                )
            self.embedder = base.adapted(adapter)
            self.embedder.warm_up()  # a damaged adapter is named now, not at the first question
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
        docs = index.documents
        self._doc_lang = np.array([d.lang for d in docs])
        self._lang_counts = Counter(d.lang for d in docs)
        self._doc_kind = np.array([d.kind for d in docs])
        self._doc_category = np.array([d.category or "" for d in docs])
        self._vocab = index.sparse.vocab_dict
        self._title_vocab = index.title_sparse.vocab_dict
        self._bigram_vocab = index.bigram_sparse.vocab_dict
        _ = (index.dense, index.title_dense)  # load now, not on the first query

    def warm_up(self) -> None:
        """Run one query so lazy loads (jieba's dictionary, opencc) happen now."""
        self.search("转账 transfer", k=1)

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
        query = query.strip()
        if not query:
            raise BadInputError("query: must not be empty")
        if len(query) > MAX_QUERY_CHARS:
            raise BadInputError(f"query: longer than {MAX_QUERY_CHARS} characters")
        if k <= 0:
            raise BadInputError("k: must be at least 1")
        filters = filters or SearchFilters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        lang = detect_language(query)
        expanded_by = self.glossary.expand(normalise(query), lang) if self.glossary else Expansion([], [])
        expansion, concepts = expanded_by.terms, expanded_by.concepts
        expanded = query if not expansion else f"{query} {' '.join(expansion)}"
        doc_mask = self._doc_mask(filters)
        chunk_ok = doc_mask[self.index.chunk_doc] if doc_mask is not None else None
        n_chunks = len(self.index.chunks)
        pool = min(n_chunks, self.candidates if chunk_ok is None else max(self.candidates * 4, 400))

        dense_docs: dict[int, tuple[float, int]] = {}
        title_dense: dict[int, float] = {}
        if self.fusion != "sparse":
            t = time.perf_counter()
            qv = self.embedder.embed_queries([expanded])
            timings["embed"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            scores, ids = self.index.dense.search(qv, pool)
            for score, cid in zip(scores[0].tolist(), ids[0].tolist(), strict=True):
                if cid < 0 or (chunk_ok is not None and not chunk_ok[cid]):
                    continue
                d = int(self.index.chunk_doc[cid])
                if d not in dense_docs:
                    dense_docs[d] = (float(score), cid)
            if self.title_weight:
                n_docs = len(self.index.documents)
                tscores, tids = self.index.title_dense.search(qv, min(n_docs, pool))
                for score, d in zip(tscores[0].tolist(), tids[0].tolist(), strict=True):
                    if d >= 0 and (doc_mask is None or doc_mask[d]):
                        title_dense[d] = float(score)
            timings["dense"] = (time.perf_counter() - t) * 1000

        sparse_docs: dict[int, tuple[float, int]] = {}
        title_sparse: dict[int, float] = {}
        bigram_docs: dict[int, float] = {}
        if self.fusion != "dense":
            t = time.perf_counter()
            q_tokens = tokens(expanded)
            concept_tokens = [[tokens(form) for form in forms] for forms in concepts]
            known = [tok for tok in q_tokens if tok in self._vocab]
            if known:
                scores_all = _bm25_scores(self.index.sparse, known, concept_tokens)
                for cid, s in _top_positive(scores_all, chunk_ok, pool):
                    d = int(self.index.chunk_doc[cid])
                    if d not in sparse_docs:
                        sparse_docs[d] = (s, cid)
            known_titles = [tok for tok in q_tokens if tok in self._title_vocab]
            if self.title_weight and known_titles:
                title_scores = _bm25_scores(self.index.title_sparse, known_titles, concept_tokens)
                title_sparse = dict(_top_positive(title_scores, doc_mask, pool))
            if self.bigram_weight and (lang == "zh" or self._foreign(lang, doc_mask)):
                known_pairs = [tok for tok in q_tokens + char_bigrams(expanded) if tok in self._bigram_vocab]
                if known_pairs:
                    pair_scores = self.index.bigram_sparse.get_scores(known_pairs)
                    for cid, s in _top_positive(pair_scores, chunk_ok, pool):
                        bigram_docs.setdefault(int(self.index.chunk_doc[cid]), s)
            timings["sparse"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        dense_rank = {d: r for r, d in enumerate(dense_docs, start=1)}
        sparse_rank = {d: r for r, d in enumerate(sparse_docs, start=1)}
        title_rank = {d: r for r, d in enumerate(title_dense, start=1)}
        fused = self._fuse(
            [
                ({d: s for d, (s, _) in dense_docs.items()}, self.dense_weight, False),
                ({d: s for d, (s, _) in sparse_docs.items()}, self.sparse_weight, True),
                (title_dense, self.title_weight * self.dense_weight, False),
                (title_sparse, self.title_weight * self.sparse_weight, True),
                (bigram_docs, self.bigram_weight * self.sparse_weight, True),
            ]
        )
        if self.ticket_weight != 1.0:
            fused = {d: v * (self.ticket_weight if self._doc_kind[d] == "ticket" else 1.0) for d, v in fused.items()}
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        hits = []
        for d, score in best:
            record = self.index.documents[d]
            dense = dense_docs.get(d)
            sparse = sparse_docs.get(d)
            # The passage to show: the chunk that ranked the document higher.
            if dense and sparse:
                cid = dense[1] if dense_rank[d] <= sparse_rank[d] else sparse[1]
            else:
                cid = (dense or sparse or (0.0, record.chunk_start))[1]
            chunk = self.index.chunks[cid]
            hits.append(
                DocumentHit(
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
                    dense_rank=dense_rank.get(d),
                    sparse_rank=sparse_rank.get(d),
                    heading_path=chunk.heading_path,
                    passage=chunk.text,
                    snippet=snippet(chunk.text, expanded),
                    chunk=cid,
                    meta=record.meta,
                    title_rank=title_rank.get(d),
                )
            )
        timings["fuse"] = (time.perf_counter() - t) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query=query, lang=lang, expansion=expansion, hits=hits, timings_ms=timings)

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


#: Per glossary concept a question names, per form of it, that form's tokens.
_ConceptTokens = list[list[list[str]]]


def _bm25_scores(bm25: Any, known: list[str], concepts: _ConceptTokens) -> NDArray[np.float32]:
    """BM25 scores for the question's tokens ``known`` to the index: each token once, and each
    glossary concept the question names (the tokens of each of its forms) once, by the form
    that matches a passage best, not by all its forms added up.

    The question "adding PulseChain to the TP chrome extension" gains 插件钱包 for
    "extension". Added up, the installation guide, which says both "extension" and 插件,
    scored 9.34 against the PulseChain guide's 6.72, mostly on that one idea (now 6.76 against
    6.72). Against the sum, hit@1 rose on three of the five tp-cn datasets and fell on none;
    on the demo it fell by one question of 85."""
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
