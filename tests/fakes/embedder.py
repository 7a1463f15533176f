"""A deterministic embedder with the :class:`kefu.embedder.Embedder` protocol, for fast tests.

Each text becomes a hashed bag of its characters and character pairs (lower-cased), so texts
that share words are close and unrelated ones nearly orthogonal: enough for search over a
small corpus to find the page that shares a question's words, without loading a model.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kefu.embedder import cannot_adapt


class FakeEmbedder:
    """Hashed character unigrams and bigrams, L2-normalised; the same for queries and passages."""

    def __init__(self, dim: int = 256, model_id: str = "fake-hashed-chars") -> None:
        self.model_id = model_id
        self.adapter: Path | None = None
        self._dim = dim
        #: Every text embedded, in order, so a test can see what was asked of the model.
        self.seen: list[str] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def base(self) -> FakeEmbedder:
        return self

    def warm_up(self) -> None:
        return None

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        flat = "".join(text.lower().split())
        for gram in [*flat, *(flat[i : i + 2] for i in range(len(flat) - 1))]:
            # crc32, not hash(): str hashes change with every process (PYTHONHASHSEED).
            v[zlib.crc32(gram.encode("utf-8")) % self._dim] += 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_queries(texts)

    def adapted(self, adapter: Path) -> FakeEmbedder:
        raise cannot_adapt(self)
