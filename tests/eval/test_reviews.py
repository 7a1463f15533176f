"""Review labels: loading with clear errors, the reviewed rates, agreement of the measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.reviews import (
    Review,
    agreement,
    answer_sha1,
    as_decided,
    load_reviews,
    matched,
    reviewed_coverage,
    reviewed_rates,
)
from kefu.errors import BadInputError


def test_a_bad_label_names_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = '{"id": "a", "run": "x", "label": "good", "answer_sha1": "0"}'
    path.write_text(good + "\n" + good.replace('"good"', '"ok"') + "\n")
    with pytest.raises(BadInputError, match=r"r.jsonl:2: field 'label'"):
        load_reviews(path)


def test_rates_and_agreement(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "lang": "zh", "answer": "点击加速即可。\n来源：《加速》[1]", "gold": ["g.md"], "cited": ["g.md"],
         "facts_found": [True, False], "accurate": False},
        {"id": "b", "lang": "en", "answer": "点击加速即可。\nSource: x [1]", "gold": ["g.md"], "cited": ["g.md"],
         "facts_found": [True], "accurate": True},
        {"id": "c", "lang": "zh", "answer": "无关。\n来源：《别的》[1]", "gold": ["g.md"], "cited": ["h.md"],
         "facts_found": [False], "accurate": False},
    ]  # fmt: skip
    labels = {"a": "good", "b": "partial", "c": "wrong"}
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"id": r["id"], "run": "after", "label": labels[r["id"]], "answer_sha1": answer_sha1(r["answer"])}
            )
            + "\n"
            for r in rows
        )
        + json.dumps({"id": "a", "run": "after", "label": "wrong", "answer_sha1": "stale"})
        + "\n"
    )
    reviews = load_reviews(path)
    rates = reviewed_rates([labels[k] for k in "abc"] + ["handoff_needless"])
    assert rates["good_of_answerable"] == 0.25 and rates["wrong_of_answered"] == round(1 / 3, 4)
    agree = agreement(reviews, rows, "after")
    assert agree["n"] == 3 and agree["stale"] == 1
    # Only the measure that wants half the facts, a gold citation and the user's language
    # agrees on all three: a's one fact of two is enough, b is in Chinese for an English user.
    assert agree["measures"]["gold_half_facts_in_language"] == 1.0
    assert agree["measures"]["facts_all_and_gold"] == 0.3333


def test_what_the_confidence_promises_by_the_reviewers_labels(tmp_path: Path) -> None:
    # Ten answered items: the four most confident were reviewed good, then a wrong one.
    labels = ["good"] * 4 + ["wrong", "good", "partial", "wrong", "partial", "good"]
    rows = [{"id": f"q{i}", "answer": f"答{i}", "confidence": 1 - i / 20} for i in range(10)]
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": r["id"], "run": "s", "label": lab, "answer_sha1": answer_sha1(r["answer"])}) + "\n"
            for r, lab in zip(rows, labels, strict=True)
        )
    )
    cov = reviewed_coverage(load_reviews(path), rows, "s")
    assert cov["n"] == 10 and cov["coverage_at_90_good"] == 0.4
    # The most confident fifth: two goods; two fifths: four goods; then the wrong one comes in.
    assert cov["good_at_coverage"]["0.2"] == 1.0 and cov["wrong_at_coverage"]["0.2"] == 0.0
    assert cov["good_at_coverage"]["0.6"] == round(5 / 6, 4) and cov["wrong_at_coverage"]["0.6"] == round(1 / 6, 4)
    assert cov["good_at_coverage"]["1.0"] == 0.6 and cov["wrong_at_coverage"]["1.0"] == 0.2


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "eval" / "reviews").glob("*.jsonl")), ids=str)
def test_the_bundled_review_labels_load_and_name_items_of_their_dataset(path: Path) -> None:
    reviews = load_reviews(path)
    dataset = Path(__file__).parents[2] / "eval" / "datasets" / path.name
    ids = {json.loads(line)["id"] for line in dataset.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert reviews and {r.id for r in reviews} <= ids
    # One label per answer of a run: a run's labels are never given twice to one item.
    keys = [(r.run, r.id) for r in reviews]
    assert len(keys) == len(set(keys))


def test_the_rates_are_of_what_users_got_at_the_runs_threshold() -> None:
    evidence = {"grounded": 1.0, "cited": 1.0}
    rows = [
        {"id": "a", "answer": "答a", "action": "answer", "reason": "grounded", "confidence": 0.6, "evidence": evidence},
        {"id": "b", "answer": "答b", "action": "answer", "reason": "grounded", "confidence": 0.1, "evidence": evidence},
        {"id": "c", "answer": "答c", "action": "answer", "reason": "grounded", "confidence": 0.1, "evidence": evidence},
        {"id": "d", "answer": "答d", "action": "answer", "reason": "fraud_warning", "confidence": 0.1},
    ]  # fmt: skip
    labels = {"a": "good", "b": "wrong", "c": "partial", "d": "good"}
    reviews = [Review(r["id"], "s", labels[r["id"]], answer_sha1(r["answer"])) for r in rows]
    pairs = matched(reviews, rows, "s")[0]
    # The eval answered all four (threshold 0); at 0.3 users got b and c handed off: the wrong
    # one rightly, the partial one needlessly. A scam warning stands whatever its score.
    assert as_decided(pairs, 0.3) == ["good", "handoff_right", "handoff_needless", "good"]
    assert as_decided(pairs, None) == ["good", "wrong", "partial", "good"]
    rates = reviewed_rates(as_decided(pairs, 0.3))
    assert rates["wrong_of_answered"] == 0.0 and rates["needless_handoffs"] == 0.25
