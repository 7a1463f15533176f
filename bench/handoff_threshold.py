"""The handoff threshold the replayed week answers with, measured through the API.

Every answer item of an eval dataset and every question of the replay's gap topics (what
the help center does not cover, bench/data/week_gaps.jsonl) is asked through the real app
as the replay builds it (quote answers, the extractive stand-in where the LLM would
render), with the threshold at 0 so each gets its confidence. Per threshold: the eval
questions still answered (coverage) and how many of those cite a gold document
(accuracy), and the share of gap questions handed off. The replay's threshold is the lowest
at which answered eval questions reach ``--target`` accuracy, the rule ``kefu eval
calibrate`` applies; the gap questions are not used to choose it, only shown.

    .venv/bin/python -m bench.handoff_threshold [--dataset eval/datasets/harbor.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.replay_week import DEFAULT_DATASET, DEFAULT_GAPS, ExtractiveGenerator, Item, load_gaps, load_items
from kefu.settings import Settings
from service.confidence import calibration_for

THRESHOLDS = (0.45, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96)


def confidences(settings: Settings, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Each item asked once, with the threshold at 0: action, reason, confidence, citations."""
    from litestar.testing import TestClient

    from service.api.app import create_app
    from service.keys import create_key
    from service.store import Store

    calibration = calibration_for(settings.data_dir, settings.calibration_path)
    calibration.threshold = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibration.json"
        calibration.save(path)
        probe = settings.with_overrides(
            database_url=f"sqlite:///{Path(tmp) / 'probe.db'}", calibration_path=path, rate_limit=0
        )
        store = Store.from_settings(probe)
        store.migrate()
        key, _ = create_key(store, "app", "threshold-probe")
        app = create_app(probe, store=store, generator=ExtractiveGenerator())  # type: ignore[arg-type]
        rows = []
        with TestClient(app, timeout=600) as client:
            for item in items:
                r = client.post("/v1/ask", json={"question": item.question}, headers={"Authorization": f"Bearer {key}"})
                r.raise_for_status()
                body = r.json()
                cited = {c["source"] for c in body["citations"]}
                rows.append(
                    {
                        "id": item.id,
                        "question": item.question,
                        "gap": bool(item.topic),
                        "action": body["action"],
                        "reason": (body.get("handoff") or {}).get("reason"),
                        "confidence": body.get("confidence") or 0.0,
                        "right": bool(cited & set(item.gold)),
                    }
                )
        store.close()
    return rows


def sweep(rows: Sequence[dict[str, Any]], target: float) -> dict[str, Any]:
    """Coverage and accuracy of eval questions, and gap questions handed off, per threshold."""
    evals = [r for r in rows if not r["gap"] and r["action"] == "answer"]
    gaps = [r for r in rows if r["gap"]]
    table = []
    for t in THRESHOLDS:
        answered = [r for r in evals if r["confidence"] >= t]
        kept_gaps = [r for r in gaps if r["action"] == "answer" and r["confidence"] >= t]
        table.append(
            {
                "threshold": t,
                "coverage": round(len(answered) / len(evals), 4) if evals else None,
                "answered": len(answered),
                "accuracy": round(sum(r["right"] for r in answered) / len(answered), 4) if answered else None,
                "gaps_handed_off": len(gaps) - len(kept_gaps),
                "gaps": len(gaps),
            }
        )
    chosen = next((row for row in table if (row["accuracy"] or 0) >= target), None)
    still = [r for r in gaps if r["action"] == "answer" and chosen and r["confidence"] >= chosen["threshold"]]
    return {
        "eval_answer_items": len(evals),
        "rule_handoffs": sum(r["action"] == "handoff" and r["reason"] != "low_confidence" for r in rows),
        "target": target,
        "chosen": chosen,
        "table": table,
        "gaps_answered_at_chosen": [{"question": r["question"], "confidence": r["confidence"]} for r in still],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--gaps", type=Path, default=DEFAULT_GAPS)
    parser.add_argument("--target", type=float, default=0.9, help="accuracy of answered eval questions (0.9)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    raw = [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    answer_ids = {row["id"] for row in raw if row.get("expected", "answer") == "answer"}
    items = [i for i in load_items([args.dataset]) if i.id in answer_ids] + load_gaps(args.gaps)
    result = sweep(confidences(settings, items), args.target)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['eval_answer_items']} eval questions answered at threshold 0; target accuracy {args.target}")
    print("threshold  coverage  answered  accuracy  gaps handed off")
    for row in result["table"]:
        print(
            f"{row['threshold']:>9.2f}  {row['coverage'] or 0:>8.1%}  {row['answered']:>8}  "
            f"{row['accuracy'] or 0:>8.1%}  {row['gaps_handed_off']:>3} of {row['gaps']}"
        )
    chosen = result["chosen"]
    print(f"chosen: {chosen['threshold'] if chosen else 'none reaches the target'}")
    for row in result["gaps_answered_at_chosen"]:
        print(f"  gap question still answered: {row['confidence']:.3f} {row['question']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
