"""``kefu eval calibrate``: fit the confidence score and pick the handoff threshold for a target.

Input is a finished ``kefu eval --mode full`` run: each answer item's evidence features
(answers.jsonl) and whether its answer was accurate. A logistic regression (scikit-learn)
maps the features to the probability that an answer is accurate; the threshold is the
lowest one at which answered questions reach the target accuracy. Coverage and accuracy
are reported from cross-validated predictions (each item scored by a model that did not
see it), so the figures are what the threshold can be expected to do on new questions,
not what it does on the questions it was fitted to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.answers import FIXED_REASONS
from eval.jsonl import read_objects
from kefu.errors import BadInputError
from service.confidence import FEATURES, Calibration


@dataclass
class CalibrationFit:
    calibration: Calibration
    target: float
    reached: bool
    #: At the chosen threshold, from cross-validated predictions.
    coverage: float
    accuracy: float
    n: int
    base_accuracy: float
    #: The same figures for the confidence the run was made with, for comparison.
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "target_accuracy": self.target,
            "reached": self.reached,
            "threshold": self.calibration.threshold,
            "coverage": self.coverage,
            "accuracy_of_answered": self.accuracy,
            "handed_off_for_low_confidence": round(1 - self.coverage, 4),
            "items": self.n,
            "accuracy_if_all_answered": self.base_accuracy,
            "weights": self.calibration.weights,
            "bias": self.calibration.bias,
            "cross_validated": self.after,
            "run_confidence": self.before,
        }


def load_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "answers.jsonl"
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: calibrate needs a `kefu eval --mode full --out DIR` run")
    return [row for _, row in read_objects(path)]


def training_set(rows: list[dict[str, Any]], source: str = "answers.jsonl") -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the answer items whose decision is the score's."""
    x, y = [], []
    for n, row in enumerate(rows, start=1):
        if row.get("expected") != "answer" or row.get("reason") in FIXED_REASONS or not row.get("judged_text"):
            continue
        evidence = row.get("evidence")
        if not isinstance(evidence, dict) or any(f not in evidence for f in FEATURES):
            missing = [f for f in FEATURES if not isinstance(evidence, dict) or f not in evidence]
            raise BadInputError(
                f"{source}:{n}: field 'evidence' lacks {missing}: the run predates these features; "
                "re-run `kefu eval --mode full`"
            )
        x.append([float(evidence[f]) for f in FEATURES])
        y.append(1 if row.get("accurate") else 0)
    if len(x) < 20:
        raise BadInputError(f"{source}: only {len(x)} answer items to fit on; calibration needs at least 20")
    labels = np.array(y)
    if labels.min() == labels.max():
        raise BadInputError(f"{source}: every answer is {'accurate' if labels[0] else 'inaccurate'}: nothing to fit")
    return np.array(x, dtype=np.float64), labels


def sweep(scores: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, coverage, accuracy) for each distinct score, highest threshold first."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    out = []
    correct = 0
    for i in range(len(s)):
        correct += int(y[i])
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue  # ties are answered together
        out.append((float(s[i]), (i + 1) / len(s), correct / (i + 1)))
    return out


def choose_threshold(
    points: list[tuple[float, float, float]], target: float, min_answered: int, n: int
) -> tuple[float, float, float, bool]:
    """The lowest threshold reaching ``target`` (most coverage); else the most accurate one."""
    eligible = [p for p in points if p[1] * n >= min_answered]
    reaching = [p for p in eligible if p[2] >= target]
    if reaching:
        t, cov, acc = max(reaching, key=lambda p: p[1])
        return t, cov, acc, True
    if not eligible:
        eligible = points
    t, cov, acc = max(eligible, key=lambda p: (p[2], p[1]))
    return t, cov, acc, False


def _curve_stats(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    points = sweep(scores, labels)
    # AURC over every item (ties expanded), as the eval report computes it.
    order = np.argsort(-scores, kind="stable")
    acc = np.cumsum(labels[order]) / np.arange(1, len(labels) + 1)
    at = {}
    for cov in (0.2, 0.4, 0.6, 0.8):
        k = max(1, round(cov * len(labels)))
        at[f"{cov:.1f}"] = round(float(acc[k - 1]), 4)
    return {"aurc": round(float(np.mean(1 - acc)), 4), "accuracy_at_coverage": at, "points": len(points)}


def fit(
    rows: list[dict[str, Any]],
    *,
    target: float = 0.9,
    min_answered: int = 10,
    folds: int = 5,
    source: str = "answers.jsonl",
    seed: int = 0,
) -> CalibrationFit:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if not 0.0 < target <= 1.0:
        raise BadInputError(f"target: {target} is not within (0, 1]")
    x, y = training_set(rows, source)
    minority = int(min(y.sum(), len(y) - y.sum()))
    k = max(2, min(folds, minority))
    model = LogisticRegression(C=1.0, max_iter=1000)
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    held_out = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    threshold, coverage, accuracy, reached = choose_threshold(sweep(held_out, y), target, min_answered, len(y))
    model.fit(x, y)
    weights = {name: round(float(w), 4) for name, w in zip(FEATURES, model.coef_[0], strict=True)}
    run_conf = np.array(
        [float(r.get("confidence", 0.0)) for r in rows
         if r.get("expected") == "answer" and r.get("reason") not in FIXED_REASONS and r.get("judged_text")]
    )  # fmt: skip
    calibration = Calibration(
        weights=weights,
        bias=round(float(model.intercept_[0]), 4),
        threshold=round(threshold, 4),
        source=f"fitted by `kefu eval calibrate` on {source} ({len(y)} answers, "
        f"{datetime.now(UTC).date().isoformat()})",
        fitted={
            "target_accuracy": target,
            "reached": reached,
            "coverage": round(coverage, 4),
            "accuracy_of_answered": round(accuracy, 4),
            "items": len(y),
            "folds": k,
        },
    )
    return CalibrationFit(
        calibration=calibration,
        target=target,
        reached=reached,
        coverage=round(coverage, 4),
        accuracy=round(accuracy, 4),
        n=len(y),
        base_accuracy=round(float(y.mean()), 4),
        before=_curve_stats(run_conf, y) if len(run_conf) == len(y) else {},
        after=_curve_stats(held_out, y),
    )
