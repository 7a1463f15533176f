from __future__ import annotations

import math

import pytest

from eval.metrics import first_relevant_rank, hit_at, mrr_at, ndcg_at, percentile


def test_hit_and_mrr() -> None:
    ranked = [False, False, True, False]
    assert first_relevant_rank(ranked) == 3
    assert hit_at(ranked, 1) == 0.0 and hit_at(ranked, 3) == 1.0
    assert mrr_at(ranked, 10) == pytest.approx(1 / 3)
    assert mrr_at(ranked, 2) == 0.0
    assert mrr_at([], 10) == 0.0


def test_ndcg_with_binary_relevance() -> None:
    assert ndcg_at([True, False], n_relevant=1) == 1.0
    assert ndcg_at([False, True], n_relevant=1) == pytest.approx(1 / math.log2(3))
    # Two relevant documents, one found first: DCG 1, ideal 1 + 1/log2(3).
    assert ndcg_at([True, False, False], n_relevant=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at([False] * 10, n_relevant=1) == 0.0


def test_percentile_interpolates() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([5], 95) == 5
    assert math.isnan(percentile([], 50))
