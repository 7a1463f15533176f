"""Retrieval metrics in the shape of sentence-transformers' InformationRetrievalEvaluator
(hit@k, MRR@10 and nDCG@10 over ranked documents with binary relevance), and the
risk-coverage sweep of a confidence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


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


def confidence_sweep(judged: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """The risk-coverage curve of (confidence, judged right) pairs: the threshold swept from
    the most confident down, the accuracy of the answers kept at each coverage, its area
    (AURC), the largest coverage at 90% and 95% accuracy, and the accuracy at set coverages."""
    scored = sorted(judged, key=lambda x: -x[0])
    n = len(scored)
    curve = []
    correct = 0
    for i, (conf, ok) in enumerate(scored, start=1):
        correct += ok
        curve.append({"threshold": round(conf, 4), "coverage": round(i / n, 4), "accuracy": round(correct / i, 4)})
    aurc = sum(1 - p["accuracy"] for p in curve) / n if n else 0.0

    def coverage_at(acc: float) -> tuple[float, float | None]:
        best: tuple[float, float | None] = (0.0, None)
        for p in curve:
            if p["accuracy"] >= acc:
                best = (p["coverage"], p["threshold"])
        return best

    def accuracy_at(cov: float) -> float | None:
        pts = [p for p in curve if p["coverage"] >= cov]
        return pts[0]["accuracy"] if pts else None

    c90, t90 = coverage_at(0.9)
    c95, t95 = coverage_at(0.95)
    return {
        "n": n,
        "aurc": round(aurc, 4),
        "coverage_at_90_accuracy": c90,
        "threshold_at_90_accuracy": t90,
        "coverage_at_95_accuracy": c95,
        "threshold_at_95_accuracy": t95,
        "accuracy_at_coverage": {f"{c:.1f}": accuracy_at(c) for c in (0.2, 0.4, 0.6, 0.8, 1.0)},
        "curve": curve,
    }
