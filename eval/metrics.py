"""Retrieval metrics in the shape of sentence-transformers' InformationRetrievalEvaluator:
hit@k, MRR@10 and nDCG@10 over ranked documents with binary relevance."""

from __future__ import annotations

import math
from collections.abc import Sequence


def first_relevant_rank(ranked_relevance: Sequence[bool]) -> int | None:
    for i, rel in enumerate(ranked_relevance, start=1):
        if rel:
            return i
    return None


def hit_at(ranked_relevance: Sequence[bool], k: int) -> float:
    return 1.0 if any(ranked_relevance[:k]) else 0.0


def mrr_at(ranked_relevance: Sequence[bool], k: int = 10) -> float:
    rank = first_relevant_rank(ranked_relevance[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at(ranked_relevance: Sequence[bool], n_relevant: int, k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, rel in enumerate(ranked_relevance[:k], start=1) if rel)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(n_relevant, k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
