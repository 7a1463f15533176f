"""Is each sentence of an answer supported by the passages it cites?

Two signals: shared words (Chinese-aware tokens) with the cited passages, and, when an
embedder is given, the best cosine between the sentence and a passage sentence, which
also works when an English answer paraphrases a Chinese source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kefu.text import split_sentences, tokens
from service.citations import normalise_markers, strip_markers

if TYPE_CHECKING:
    from kefu.embedder import Embedder

LEXICAL_SUPPORT = 0.5
SEMANTIC_SUPPORT = 0.86


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str
    cited: tuple[int, ...]
    lexical: float
    semantic: float | None

    @property
    def supported(self) -> bool:
        return self.lexical >= LEXICAL_SUPPORT or (self.semantic or 0.0) >= SEMANTIC_SUPPORT


def sentence_support(answer: str, sources: dict[int, str], embedder: Embedder | None = None) -> list[SentenceSupport]:
    """Support of each answer sentence by the sources it cites (all sources if it cites none)."""
    out: list[SentenceSupport] = []
    pending: list[tuple[str, tuple[int, ...], float, str]] = []
    for raw in split_sentences(answer):
        _, cited_list = normalise_markers(raw, sources)
        cited = tuple(cited_list)
        sentence = strip_markers(raw)
        words = [t for t in tokens(sentence) if len(t) > 1 or t.isdigit()]
        if not words:
            continue  # "1." or a lone marker: nothing to check
        pool = " ".join(sources[n] for n in cited) if cited else " ".join(sources.values())
        pool_tokens = set(tokens(pool))
        lexical = sum(1 for w in words if w in pool_tokens) / len(words)
        pending.append((sentence, cited, lexical, pool))
    semantic: list[float | None] = [None] * len(pending)
    if embedder is not None and pending:
        need = [i for i, p in enumerate(pending) if p[2] < LEXICAL_SUPPORT]
        if need:
            pool_sentences = sorted({s for i in need for s in split_sentences(pending[i][3])})
            if pool_sentences:
                a = embedder.embed_passages([pending[i][0] for i in need])
                b = embedder.embed_passages(pool_sentences)
                best = np.max(a @ b.T, axis=1)
                for i, score in zip(need, best.tolist(), strict=True):
                    semantic[i] = round(float(score), 4)
    for (sentence, cited, lexical, _), sem in zip(pending, semantic, strict=True):
        out.append(SentenceSupport(sentence, cited, round(lexical, 4), sem))
    return out


def groundedness(supports: Sequence[SentenceSupport]) -> float:
    """Share of checkable sentences that are supported (1.0 for an answer with none)."""
    if not supports:
        return 0.0
    return sum(1 for s in supports if s.supported) / len(supports)
