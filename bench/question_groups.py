"""How well the report's grouping by meaning separates the labelled question set
(tests/service/data/question_groups.jsonl): the cosine range of paraphrase pairs and of
pairs of different questions, and, per threshold, how many paraphrases the grouping splits
off their group and how many groups it merges into another.

    .venv/bin/python bench/question_groups.py [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from kefu.embedder import embedder_from_settings
from kefu.settings import Settings
from kefu.text import detect_language
from service.analytics import group_questions

REPO = Path(__file__).resolve().parent.parent
LABELLED = REPO / "tests" / "service" / "data" / "question_groups.jsonl"


def errors(groups: list[str], labels: list[int]) -> tuple[int, int]:
    """(paraphrases split off their group's main label, groups sharing a label with another)."""
    members: dict[str, set[int]] = {}
    for group, label in zip(groups, labels, strict=True):
        members.setdefault(group, set()).add(label)
    owners: dict[int, set[str]] = {}
    for group, ls in members.items():
        for label in ls:
            owners.setdefault(label, set()).add(group)
    return sum(len(ls) - 1 for ls in members.values()), sum(len(gs) - 1 for gs in owners.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["question"] for r in rows]
    groups = [r["group"] for r in rows]
    langs = [detect_language(t) for t in texts]
    embedder = embedder_from_settings(Settings.from_env())
    embedder.warm_up()
    v = embedder.embed_queries(texts)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = v @ v.T
    out: dict[str, Any] = {"questions": len(rows), "groups": len(set(groups))}
    for scope, same_lang in (("all pairs", False), ("same-language pairs", True)):
        every = itertools.combinations(range(len(rows)), 2)
        pairs = [(i, j) for i, j in every if not same_lang or langs[i] == langs[j]]
        same = [float(sims[i, j]) for i, j in pairs if groups[i] == groups[j]]
        diff = [float(sims[i, j]) for i, j in pairs if groups[i] != groups[j]]
        out[scope] = {
            "paraphrase_min": round(min(same), 3),
            "paraphrase_median": round(float(np.median(same)), 3),
            "different_max": round(max(diff), 3),
            "different_median": round(float(np.median(diff)), 3),
            "different_pairs_above_lowest_paraphrase": sum(d >= min(same) for d in diff),
            "different_pairs": len(diff),
        }
    out["by_threshold"] = {}
    for t in np.arange(0.84, 0.955, 0.01):
        labels = group_questions(texts, embedder, float(t))
        split, merged = errors(groups, labels)
        out["by_threshold"][f"{t:.2f}"] = {"groups_made": len(set(labels)), "split": split, "merged": merged}
    print(json.dumps(out, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
