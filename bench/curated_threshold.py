"""The curated-answer match threshold, measured on the eval datasets.

Curated answers: the canonical questions of tests/service/data/curated_paraphrases.jsonl,
each written for one eval question, as an admin would word it. Queries that should match:
that eval question as the user asked it, and one more paraphrase per entry. Queries that
must not: every question of eval/datasets/*.jsonl against every curated answer whose eval
question is of the same corpus (Harbor's demo help center, or tp-cn for the tp-cn-*
datasets) and shares no gold document with it (another topic). Pairs on the same topic but
not the same question (shared gold documents), and pairs across the two corpora (whose gold
paths cannot be compared), are left out: they may or may not deserve the curated answer.

For each threshold: wrong matches (a query whose best curated answer at or above the
threshold is of another topic, and pairs above it), misses (paraphrases below it).

    .venv/bin/python bench/curated_threshold.py [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from kefu.embedder import embedder_from_settings
from kefu.settings import Settings
from kefu.text import detect_language
from service.curated import MATCH_THRESHOLD

REPO = Path(__file__).resolve().parent.parent
LABELLED = REPO / "tests" / "service" / "data" / "curated_paraphrases.jsonl"
DATASETS = sorted((REPO / "eval" / "datasets").glob("*.jsonl"))
THRESHOLDS = (0.90, 0.92, 0.93, 0.94, 0.945, 0.95, 0.955, 0.96, 0.965, 0.97)


def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    evals = [
        {**json.loads(line), "corpus": "harbor" if path.name == "harbor.jsonl" else "tp-cn"}
        for path in DATASETS
        for line in path.read_text("utf-8").splitlines()
        if line.strip()
    ]
    entries = [json.loads(line) for line in LABELLED.read_text("utf-8").splitlines() if line.strip()]
    return evals, entries


def measure(embedder: Any) -> dict[str, Any]:
    evals, entries = load()
    by_id = {e["id"]: e for e in evals}
    curated = [e["curated"] for e in entries]
    gold = [set(by_id[e["id"]]["gold"]) for e in entries]
    corpus = [by_id[e["id"]]["corpus"] for e in entries]
    positives = [(by_id[e["id"]]["question"], i) for i, e in enumerate(entries)]
    positives += [(p, i) for i, e in enumerate(entries) for p in e["paraphrases"]]

    def unit(texts: list[str]) -> np.ndarray:
        v = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    c = unit(curated)
    pos = unit([q for q, _ in positives]) @ c.T
    neg_q = [e["question"] for e in evals]
    neg = unit(neg_q) @ c.T
    # Another topic: no gold document in common (an eval question and its own curated entry share all).
    other = np.asarray(
        [[e["corpus"] == c and not (set(e["gold"]) & g) for g, c in zip(gold, corpus, strict=True)] for e in evals]
    )
    own = np.asarray([pos[k, i] for k, (_, i) in enumerate(positives)])
    neg_other = np.where(other, neg, -1.0)
    rows = []
    for t in THRESHOLDS:
        # A query is answered by its best-scoring curated answer: wrong when that one is of another topic.
        best = neg.argmax(axis=1)
        wrong_queries = int(sum(neg[k, best[k]] >= t and other[k, best[k]] for k in range(len(evals))))
        rows.append(
            {
                "threshold": t,
                "wrong_matches": wrong_queries,
                "wrong_pairs": int((neg_other >= t).sum()),
                "false_match_rate": round(wrong_queries / len(evals), 4),
                "misses": int((own < t).sum()),
                "miss_rate": round(float((own < t).mean()), 4),
            }
        )
    flat = np.argsort(-neg_other, axis=None)[:5]
    closest = [
        {"query": neg_q[k], "curated": curated[i], "cosine": round(float(neg_other[k, i]), 4)}
        for k, i in (np.unravel_index(j, neg_other.shape) for j in flat)
    ]
    return {
        "curated": len(curated),
        "paraphrases": len(positives),
        "negative_queries": len(evals),
        "negative_pairs": int(other.sum()),
        "paraphrase_cosine": {"min": round(float(own.min()), 4), "median": round(float(np.median(own)), 4)},
        "other_topic_max": round(float(neg_other.max()), 4),
        "closest_other_topic": closest,
        "missed_at_threshold": [
            {"query": q, "curated": curated[i], "cosine": round(float(own[k]), 4), "lang": detect_language(q)}
            for k, (q, i) in enumerate(positives)
            if own[k] < MATCH_THRESHOLD
        ],
        "threshold_in_use": MATCH_THRESHOLD,
        "by_threshold": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    embedder = embedder_from_settings(Settings.from_env())
    embedder.warm_up()
    out = measure(embedder)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{out['curated']} curated answers, {out['paraphrases']} paraphrases, "
        f"{out['negative_queries']} eval questions ({out['negative_pairs']} other-topic pairs)"
    )
    print(f"paraphrase cosine min {out['paraphrase_cosine']['min']}, median {out['paraphrase_cosine']['median']}")
    print(f"other-topic max {out['other_topic_max']}")
    for c in out["closest_other_topic"]:
        print(f"  {c['cosine']}  {c['query'][:50]}  ~  {c['curated'][:40]}")
    print("threshold  wrong queries  wrong pairs  false-match rate  misses  miss rate")
    for r in out["by_threshold"]:
        print(
            f"{r['threshold']:9.2f}  {r['wrong_matches']:13d}  {r['wrong_pairs']:11d}  "
            f"{r['false_match_rate']:16.2%}  {r['misses']:6d}  {r['miss_rate']:9.2%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
