"""Recent vectors kept: a search question asked again, a help-center sentence quoted again, is not embedded again.

A help desk hears the same questions all day ("转账一直在打包中", a suggested question tapped
in the widget); the model's vector for a text never changes, so the API keeps the last
``size`` of them (least recently used out). Exact texts only: a question differing by one
character is embedded anew. Passages (ingest) are never cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from kefu.embedder import QueryEmbedderWrapper

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kefu.embedder import Embedder


class RecentVectors:
    """The vectors of the last ``max_items`` texts an embedding function was asked for, the
    least recently used forgotten first; the lookup and the model call for the missing texts
    (made outside the lock, so other threads' lookups do not wait for it)."""

    def __init__(self, max_items: int) -> None:
        if max_items <= 0:
            raise ValueError("max_items must be above 0")
        self.max_items = max_items
        self._vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, texts: Sequence[str], embed: Callable[[list[str]], NDArray[np.float32]]
    ) -> tuple[NDArray[np.float32], int, int]:
        """The vectors of ``texts`` in order, and how many were remembered and how many
        distinct texts ``embed`` was called for."""
        if not texts:
            return np.asarray(embed([]), dtype=np.float32), 0, 0
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        remembered = sum(1 for t in texts if t in found)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = embed(missing)
            with self._lock:
                for text, row in zip(missing, fresh, strict=True):
                    vector = np.array(row, dtype=np.float32)
                    vector.setflags(write=False)
                    found[text] = self._vectors[text] = vector
                    self._vectors.move_to_end(text)
                while len(self._vectors) > self.max_items:
                    self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts]), remembered, len(missing)


class QueryVectorCache(QueryEmbedderWrapper):
    """An :class:`~kefu.embedder.Embedder` whose :meth:`embed_queries` remembers its last
    ``size`` texts' vectors; everything else is passed through to ``inner``."""

    def __init__(
        self,
        inner: Embedder,
        *,
        size: int,
        base: QueryVectorCache | None = None,
        on_lookup: Callable[[int, int], None] | None = None,
    ) -> None:
        if size <= 0:
            raise ValueError("size must be above 0")
        super().__init__(inner, base=base)
        self.size = size
        self._recent = RecentVectors(size)
        #: Called after each call with (texts found in the cache, texts embedded): the API's metrics.
        self._on_lookup = on_lookup
        #: Texts answered from the cache and texts embedded (read by tests and the docs' figures).
        self.hits = 0
        self.misses = 0

    def _wrapping(self, inner: Embedder) -> QueryVectorCache:
        return QueryVectorCache(inner, size=self.size, base=self.base, on_lookup=self._on_lookup)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors, hits, embedded = self._recent.get(texts, self.inner.embed_queries)
        self.hits += hits
        self.misses += embedded
        if self._on_lookup is not None and texts:
            self._on_lookup(hits, embedded)
        return vectors
