"""A retriever and an embedder with the real ones' protocol whose work takes as long as a
test says: for deadlines, without loading a model or an index."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.retriever import DocumentHit, SearchFilters, SearchResult


class SlowEmbedder:
    """Deterministic vectors (seeded by the text), after ``delay`` seconds per call."""

    model_id = "slow-fake"

    def __init__(self, delay: float = 0.0, dim: int = 32) -> None:
        self.delay = delay
        self._dim = dim
        self.release = threading.Event()
        self.calls_done = 0

    @property
    def dim(self) -> int:
        return self._dim

    def warm_up(self) -> None:
        return None

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.release.wait(self.delay)
        rows = []
        for text in texts:
            v = np.random.default_rng(zlib.crc32(text.encode("utf-8"))).normal(size=self._dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        self.calls_done += 1
        return np.array(rows, dtype=np.float32).reshape(len(texts), self._dim)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._embed(texts)


def article_hit(
    doc_id: str = "fqa/pending.md",
    text: str = "转账一直在打包中，通常是矿工费设置过低。",
    *,
    title: str = "转账一直在打包中怎么办",
    dense: float = 0.9,
    kind: str = "article",
) -> DocumentHit:
    """A search hit on one passage, ranked first by both searches."""
    return DocumentHit(
        doc_id=doc_id, paths=[doc_id], title=title, kind=kind, lang="zh", category="transfers",
        url=None, score=0.9, dense_score=dense, sparse_score=5.0, dense_rank=1, sparse_rank=1,
        heading_path=[], passage=text, snippet=text, chunk=0,
    )  # fmt: skip


@dataclass
class SlowRetriever:
    """Answers every search with ``hits`` after ``delay`` seconds (or once ``release`` is set).

    ``finished`` counts the searches that ran to their end, also those nobody waited for."""

    delay: float = 0.0
    hits: list[DocumentHit] = field(default_factory=list)
    embedder: Any = field(default_factory=SlowEmbedder)
    release: threading.Event = field(default_factory=threading.Event)
    finished: int = 0
    searches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plain_embedder = self.embedder
        self.glossary = None
        manifest = SimpleNamespace(name="slow", version="v1")
        # A help center without translations.
        self.index = SimpleNamespace(manifest=manifest, documents=[], chunks=[], translation=lambda *_: None)

    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None) -> SearchResult:
        self.searches.append(query)
        self.release.wait(self.delay)
        hits = [h for h in self.hits if filters is None or filters.kind in (None, h.kind)][:k]
        self.finished += 1
        return SearchResult(query=query, lang="zh", expansion=[], hits=hits, timings_ms={"total": 0.0})

    def warm_up(self) -> None:
        return None

    def word_rarity(self, words: Sequence[str]) -> dict[str, float]:
        """Every word as rare as any other (the fake has no passages to count them in)."""
        return dict.fromkeys(words, 1.0)
