"""Is each sentence of an answer supported by the passages it cites?

Two signals: shared words (Chinese-aware tokens) with the cited passages, and, when an
embedder is given, the best cosine between the sentence and a passage sentence, which
also works when an English answer paraphrases a Chinese source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kefu.text import normalise, split_passage, split_sentences, tokens
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


def sentence_support(
    answer: str, sources: dict[int, str], embedder: Embedder | None = None, question: str = ""
) -> list[SentenceSupport]:
    """Support of each answer sentence by the sources it cites (all sources if it cites none).

    Words the sentence shares with the question do not count: a sentence that only echoes
    the question ("截图存相册行不行") says nothing the sources need to back, and must not
    pass as grounded by repeating the user's own words.
    """
    asked = {t for t in tokens(question) if len(t) > 1}
    out: list[SentenceSupport] = []
    pending: list[tuple[str, tuple[int, ...], float, str]] = []
    for raw in split_sentences(answer):
        _, cited_list = normalise_markers(raw, sources)
        cited = tuple(cited_list)
        sentence = strip_markers(raw)
        all_words = [t for t in tokens(sentence) if len(t) > 1 or t.isdigit()]
        if not all_words:
            continue  # "1." or a lone marker: nothing to check
        words = [t for t in all_words if t not in asked]
        if len(words) < 2:
            # An echo of the question: nothing in it is backed by a source.
            pending.append((sentence, cited, 0.0, ""))
            continue
        pool = " ".join(sources[n] for n in cited) if cited else " ".join(sources.values())
        pool_tokens = set(tokens(pool))
        lexical = sum(1 for w in words if w in pool_tokens) / len(words)
        pending.append((sentence, cited, lexical, pool))
    semantic: list[float | None] = [None] * len(pending)
    if embedder is not None and pending:
        need = [i for i, p in enumerate(pending) if p[2] < LEXICAL_SUPPORT and p[3]]
        if need:
            pool_sentences = sorted({s for i in need for s in split_passage(pending[i][3])})
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


def word_overlap(question: str, answer: str, rarity: Callable[[Sequence[str]], dict[str, float]]) -> float:
    """Share of the question's search words found in the answer, each weighted by its
    ``rarity`` in the help center (0 when the question has none).

    A quote from the wrong article or section leaves out what the question names ("包月",
    "Nostr", "深色模式"): in review, answers judged wrong held less of the question than good
    ones did, and more reliably so than retrieval's scores told (docs/answers.md).
    """
    words = sorted(set(tokens(question)))
    if not words:
        return 0.0
    weights = rarity(words)
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    body = normalise(strip_markers(answer)).lower()
    return round(sum(w for word, w in weights.items() if word in body) / total, 4)


def copy_rate(answer: str, passages: Sequence[str]) -> float:
    """Share of the answer's character bigrams (markers and spaces left out) found in the passages.

    A small model that stays close to its sources' wording keeps their facts; one that
    paraphrases freely is where invented details come from.
    """

    def bigrams(text: str) -> set[str]:
        body = re.sub(r"\s+", "", strip_markers(text).lower())
        return {body[i : i + 2] for i in range(len(body) - 1)}

    mine = bigrams(answer)
    if not mine:
        return 0.0
    pool: set[str] = set()
    for p in passages:
        pool |= bigrams(p)
    return len(mine & pool) / len(mine)


class CitationAligner:
    """Adds the marker of the supporting source to a sentence that cites none.

    Small models often write a sentence straight from a source and forget its ``[n]``;
    attributing it by alignment (shared words, or cosine to the source's sentences for an
    answer in another language) keeps every marker pointing at a source in the prompt,
    and leaves an unsupported sentence without one.
    """

    def __init__(self, sources: dict[int, str], embedder: Embedder | None = None, question: str = "") -> None:
        self.sources = sources
        self._asked = {t for t in tokens(question) if len(t) > 1}
        self.embedder = embedder
        self._tokens = {n: set(tokens(text)) for n, text in sources.items()}
        self._sentences: list[tuple[int, str]] = [(n, s) for n, text in sources.items() for s in split_passage(text)]
        self._matrix: np.ndarray | None = None

    def best_source(self, sentence: str) -> tuple[int | None, float]:
        words = [t for t in tokens(strip_markers(sentence)) if (len(t) > 1 or t.isdigit()) and t not in self._asked]
        if len(words) < 2:
            return None, 0.0  # empty, or an echo of the question
        scores = {n: sum(1 for w in words if w in toks) / len(words) for n, toks in self._tokens.items()}
        n, best = max(scores.items(), key=lambda kv: kv[1])
        if best >= LEXICAL_SUPPORT:
            return n, best
        if self.embedder is None or not self._sentences:
            return None, best
        if self._matrix is None:
            self._matrix = self.embedder.embed_passages([s for _, s in self._sentences])
        sims = self._matrix @ self.embedder.embed_passages([strip_markers(sentence)])[0]
        i = int(np.argmax(sims))
        if float(sims[i]) >= SEMANTIC_SUPPORT:
            return self._sentences[i][0], float(sims[i])
        return None, best

    def attach(self, sentence: str) -> str:
        """The sentence with a marker added when it has none and a source supports it."""
        if re.search(r"\[\d+\]", sentence):
            return sentence
        n, _ = self.best_source(sentence)
        if n is None:
            return sentence
        m = re.search(r"([。！？!?.;；]*)(\s*)$", sentence)
        end = m.start() if m else len(sentence)
        return f"{sentence[:end].rstrip()} [{n}]{sentence[end:]}"
