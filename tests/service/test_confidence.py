"""The confidence score and the decision it drives: the retrieval evidence, the threshold and
what else an answer needs to stand alone, the best case that spares composing, and the
calibration file's checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kefu.errors import BadInputError
from service.confidence import (
    Calibration,
    Evidence,
    calibration_for,
    evidence_match,
    retrieval_evidence,
    top_dense,
)
from service.grounding import word_overlap
from service.retriever import DocumentHit
from tests.fakes.retriever import article_hit

SUPPORTED = {"grounded": 1.0, "cited": 1.0, "copy_rate": 1.0, "cites_top": 1.0}


def ranked(dense_rank: int, sparse_rank: int, score: float = 0.9) -> DocumentHit:
    return dataclasses.replace(article_hit(), dense_rank=dense_rank, sparse_rank=sparse_rank, score=score)


def test_cosines_are_rescaled_and_clipped_to_the_unit_range() -> None:
    assert top_dense(0.5) == 0.0 and top_dense(0.99) == 1.0 and top_dense(0.81) == pytest.approx(0.5)
    assert evidence_match(0.7) == 0.0 and evidence_match(1.0) == 1.0 and evidence_match(0.87) == 0.5


@pytest.mark.parametrize(("dense_rank", "sparse_rank", "agreement"), [(1, 1, 1.0), (2, 3, 0.5), (1, 4, 0.0)])
def test_agreement_is_whether_both_searches_put_the_top_passage_first(
    dense_rank: int, sparse_rank: int, agreement: float
) -> None:
    assert retrieval_evidence([ranked(dense_rank, sparse_rank)])["agreement"] == agreement


def test_margin_language_and_an_empty_search() -> None:
    hits = [ranked(1, 1, score=1.0), ranked(2, 2, score=0.75)]
    evidence = retrieval_evidence(hits, "en")
    assert evidence["margin"] == pytest.approx(0.25) and evidence["cross_lingual"] == 1.0
    assert retrieval_evidence(hits, "zh")["cross_lingual"] == 0.0
    assert retrieval_evidence(hits[:1])["margin"] == 0.0
    assert set(retrieval_evidence([]).values()) == {0.0}
    # An adapted index's own cosine is replaced by the plain model's.
    assert retrieval_evidence(hits, top_cosine=0.72)["top_dense"] == 0.0


def test_more_evidence_never_lowers_the_score() -> None:
    cal = Calibration()
    weak = Evidence(top_dense=0.2)
    strong = Evidence(top_dense=1.0, agreement=1.0, margin=0.5, **SUPPORTED)
    assert 0.0 < cal.score(weak) < cal.score(strong) < 1.0


@pytest.mark.parametrize(
    ("evidence", "answers"),
    [
        (Evidence(top_dense=1.0, agreement=1.0, margin=1.0, **SUPPORTED), True),
        (Evidence(top_dense=1.0, agreement=1.0, margin=1.0, grounded=1.0), False),  # cites nothing
        (Evidence(top_dense=1.0, agreement=1.0, margin=1.0, cited=1.0), False),  # no sentence supported
    ],
)
def test_an_answer_stands_alone_only_when_cited_and_supported(evidence: Evidence, answers: bool) -> None:
    cal = Calibration(threshold=0.0)
    assert cal.answers(evidence, cal.score(evidence)) is answers


def test_below_the_threshold_an_answer_goes_to_an_agent() -> None:
    evidence = Evidence(top_dense=0.5, **SUPPORTED)
    confidence = Calibration().score(evidence)
    assert Calibration(threshold=confidence).answers(evidence, confidence)
    assert not Calibration(threshold=confidence + 0.01).answers(evidence, confidence)


def test_the_best_case_is_what_a_fully_supported_answer_would_score() -> None:
    cal = Calibration()
    retrieval = retrieval_evidence([ranked(1, 1)])
    best = cal.best_case(retrieval)
    assert best == pytest.approx(cal.score(Evidence(**retrieval, grounded=1.0, cited=1.0, word_overlap=1.0)))
    assert best >= cal.score(Evidence(**retrieval, grounded=0.5, cited=1.0, word_overlap=1.0))


def test_an_answer_holding_little_of_the_question_is_handed_off_by_default() -> None:
    # Retrieval unsure (the searches disagree, a small margin), quoted whole: what the
    # quote leaves out of the question decides.
    cal = Calibration()
    sure = Evidence(top_dense=0.6, agreement=0.0, margin=0.05, **SUPPORTED)
    holds = cal.score(dataclasses.replace(sure, word_overlap=0.8))
    misses = cal.score(dataclasses.replace(sure, word_overlap=0.1))
    assert cal.answers(sure, holds) and not cal.answers(sure, misses)


def test_word_overlap_weighs_the_question_s_words_by_rarity() -> None:
    rarity = {"包月": 5.0, "批量": 2.0, "转账": 1.0}.get
    rare = lambda words: {w: rarity(w) or 1.0 for w in words}  # noqa: E731
    question = "批量转账有没有包月"
    assert word_overlap(question, "批量转账每次都要付矿工费 [1]", rare) == pytest.approx(3 / 8)
    assert word_overlap(question, "可以开通包月VIP，批量转账不限次数", rare) == 1.0
    assert word_overlap(question, "Nothing in common", rare) == 0.0
    assert word_overlap("怎么办", "任何回答", rare) == 0.0  # stopwords only: no word to find
    # Traditional characters and case are the search's: 轉賬 is 转账, USDT is usdt.
    assert word_overlap("USDT 轉賬", "usdt转账", rare) == 1.0


def test_a_calibration_round_trips_and_a_bad_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    Calibration(threshold=0.6, bias=-2.0).save(path)
    assert calibration_for(tmp_path).threshold == 0.6 and calibration_for(tmp_path).bias == -2.0
    assert calibration_for(tmp_path / "none").source.startswith("default")
    with pytest.raises(BadInputError, match="does not exist"):
        calibration_for(tmp_path, tmp_path / "missing.json")
    for text, problem in [
        ('{"weights": {"vibes": 1.0}}', "unknown features"),
        ('{"threshold": 1.5}', "threshold must be within 0..1"),
        ("{not json", "unusable"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(BadInputError, match=problem):
            calibration_for(tmp_path)
