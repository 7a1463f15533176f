"""Human review labels for eval answers, and how well the eval's correctness agrees with them.

A review file is JSONL, one reviewed answer a line: ``id`` (the dataset item), ``run`` (a
name for the answers reviewed, e.g. ``before`` / ``after``), ``label`` (``good``, ``partial``,
``wrong``, ``handoff_right`` or ``handoff_needless``), ``answer_sha1`` (SHA-1 of the answer
text reviewed, so a label is never applied to a different answer) and ``note``. The answers
themselves are not stored: they quote the help center, whose text stays out of the repository.

``good``: correct, addresses the question, the user is helped (in the user's language);
``partial``: the right topic, but an essential step missing, buried in clutter, or not in the
user's language; ``wrong``: off-topic, misleading or unsafe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.jsonl import read_objects
from eval.metrics import confidence_sweep
from kefu.errors import BadInputError
from kefu.text import detect_language

LABELS = ("good", "partial", "wrong", "handoff_right", "handoff_needless")
#: The labels of an answer given (the rest are of handoffs).
ANSWERED = ("good", "partial", "wrong")


@dataclass(frozen=True)
class Review:
    id: str
    run: str
    label: str
    answer_sha1: str
    note: str = ""


#: A review and the eval row of the answer it was given to.
ReviewedRow = tuple[Review, dict[str, Any]]


def answer_sha1(text: str) -> str:
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()


def load_reviews(path: Path) -> list[Review]:
    """The reviews in ``path``; a bad line is an error naming the file, the line and the field."""
    out = []
    for where, raw in read_objects(path):
        for name in ("id", "run", "label", "answer_sha1"):
            if not isinstance(raw.get(name), str) or not raw[name]:
                raise BadInputError(f"{where}: field {name!r} is missing or not a string")
        if raw["label"] not in LABELS:
            raise BadInputError(f"{where}: field 'label' must be one of {', '.join(LABELS)}")
        out.append(Review(raw["id"], raw["run"], raw["label"], raw["answer_sha1"], str(raw.get("note", ""))))
    return out


def as_decided(pairs: Sequence[ReviewedRow], threshold: float | None) -> list[str]:
    """The labels of what users got at ``threshold``: the eval answers every item the rules let
    through (threshold 0), so a reviewed answer the threshold would have kept back is a
    handoff, needless where the answer was good or partial, right where it was wrong. None: as
    answered."""
    if threshold is None:
        return [rv.label for rv, _ in pairs]
    from eval.answers import kept_back
    from service.confidence import Calibration

    calibration = Calibration(threshold=threshold)
    labels = []
    for rv, row in pairs:
        back = kept_back(
            calibration, str(row.get("action")), row.get("reason"), row.get("evidence") or {},
            float(row.get("confidence") or 0.0),
        )  # fmt: skip
        if back and rv.label in ANSWERED:
            labels.append("handoff_right" if rv.label == "wrong" else "handoff_needless")
        else:
            labels.append(rv.label)
    return labels


def reviewed_rates(labels: Sequence[str]) -> dict[str, Any]:
    """The rates the issue's table reports: good of answerable, wrong and partial of answered."""
    answered = [x for x in labels if x in ANSWERED]
    n = len(labels)

    def ratio(a: int, b: int) -> float:
        return round(a / b, 4) if b else 0.0

    return {
        "n": n,
        "good_of_answerable": ratio(sum(x == "good" for x in labels), n),
        "partial_of_answered": ratio(sum(x == "partial" for x in answered), len(answered)),
        "wrong_of_answered": ratio(sum(x == "wrong" for x in answered), len(answered)),
        "needless_handoffs": ratio(sum(x == "handoff_needless" for x in labels), n),
    }


def _gold_cited(row: dict[str, Any]) -> bool:
    return bool(set(row.get("gold") or []) & set(row.get("cited") or []))


def _recall(row: dict[str, Any]) -> float:
    found = row.get("facts_found") or []
    return sum(found) / len(found) if found else 1.0


def _in_language(row: dict[str, Any]) -> bool:
    # The body, without the citation line (whose title may be in the source's language).
    body = "\n".join(line for line in str(row.get("answer") or "").splitlines()[:-1]) or str(row.get("answer") or "")
    return detect_language(body) == row.get("lang")


#: Candidate correctness measures over an ``answers.jsonl`` row of an answered item.
MEASURES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "facts_all_and_gold": lambda r: bool(r.get("accurate_strict", r.get("accurate"))),
    "gold_cited": _gold_cited,
    "gold_and_half_facts": lambda r: _gold_cited(r) and _recall(r) >= 0.5,
    "gold_half_facts_in_language": lambda r: _gold_cited(r) and _recall(r) >= 0.5 and _in_language(r),
}


def matched(reviews: Sequence[Review], rows: Sequence[dict[str, Any]], run: str) -> tuple[list[ReviewedRow], int]:
    """The reviews of ``run`` paired with the answer in ``rows`` they were given to (same
    SHA-1), and how many were given to an answer that is not there (stale)."""
    by_id = {r["id"]: r for r in rows}
    pairs: list[ReviewedRow] = []
    stale = 0
    for rv in reviews:
        if rv.run != run:
            continue
        row = by_id.get(rv.id)
        if row is None or answer_sha1(str(row.get("answer") or "")) != rv.answer_sha1:
            stale += 1
        else:
            pairs.append((rv, row))
    return pairs, stale


def agreement(reviews: Sequence[Review], rows: Sequence[dict[str, Any]], run: str) -> dict[str, Any]:
    """How often each measure's verdict on an answered item matches the review (good = correct).

    Only reviews of ``run`` whose answer is the one in ``rows`` count (same SHA-1); ``stale``
    counts the others, of any label.
    """
    pairs, stale = matched(reviews, rows, run)
    answered = [(rv, row) for rv, row in pairs if rv.label in ANSWERED]
    result: dict[str, Any] = {"n": len(answered), "stale": stale, "measures": {}}
    for name, measure in MEASURES.items():
        agree = sum(measure(row) == (rv.label == "good") for rv, row in answered)
        result["measures"][name] = round(agree / len(answered), 4) if answered else 0.0
    return result


def reviewed_coverage(reviews: Sequence[Review], rows: Sequence[dict[str, Any]], run: str) -> dict[str, Any]:
    """What the confidence promises by the reviewer's labels: the risk-coverage sweep
    (:func:`eval.metrics.confidence_sweep`) of the answered items of ``run`` with "good" as
    right, and the share of wrong answers kept at each coverage."""
    labelled = [
        (float(row.get("confidence") or 0.0), rv.label) for rv, row in matched(reviews, rows, run)[0]
        if rv.label in ANSWERED
    ]  # fmt: skip
    good = confidence_sweep([(conf, label == "good") for conf, label in labelled])
    not_wrong = confidence_sweep([(conf, label != "wrong") for conf, label in labelled])
    return {
        "n": good["n"],
        "coverage_at_90_good": good["coverage_at_90_accuracy"],
        "good_at_coverage": good["accuracy_at_coverage"],
        "wrong_at_coverage": {
            cov: None if acc is None else round(1 - acc, 4) for cov, acc in not_wrong["accuracy_at_coverage"].items()
        },
    }
