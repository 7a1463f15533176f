"""Plain retrieval baselines on an eval dataset, to tell how hard the dataset is.

Issue 4 states three plain baselines on its held-out questions: BM25 on jieba tokens, dense
e5 on fixed 500-character windows, and their fusion. This script builds the same three over
a corpus (nothing of kefu's chunking, titles, glossary or character pairs) and scores them
on a dataset's answer items with the metrics of ``kefu eval --mode retrieval``, so a figure of
kefu's own search on that dataset can be read against them.

Usage: python bench/plain_baselines.py [CORPUS] [--dataset FILE] [--json]
       (defaults: ../shared/corpora/tp-cn and eval/datasets/tp-cn.jsonl)
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from eval.dataset import load_dataset
from eval.metrics import hit_at, mrr_at
from ingest.sources import read_source
from kefu.embedder import embedder_from_settings
from kefu.settings import Settings

REPO = Path(__file__).resolve().parent.parent
WINDOW = 500
RRF_K = 60
KS = (1, 3, 5, 10)
_SPLIT = re.compile(r"[\s\W_]+", re.UNICODE)


def jieba_tokens(text: str) -> list[str]:
    import jieba

    return [w.lower() for w in jieba.lcut(text) if w.strip() and not _SPLIT.fullmatch(w)]


def windows(text: str, size: int = WINDOW) -> list[str]:
    return [text[i : i + size] for i in range(0, max(len(text), 1), size)]


def rrf(*rankings: Sequence[int], k: int = RRF_K) -> list[int]:
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + rank + 1)
    return sorted(score, key=lambda d: -score[d])


def dense_docs(scores: np.ndarray, win_doc: np.ndarray, depth: int) -> list[int]:
    """Documents in the order of their best window's score, the first ``depth``."""
    out: list[int] = []
    for w in np.argsort(-scores):
        d = int(win_doc[w])
        if d not in out:
            out.append(d)
            if len(out) == depth:
                break
    return out


def rank_all(texts: list[str], items: list[Any], depth: int = 100) -> tuple[dict[str, list[list[int]]], int]:
    """Each baseline's ranking of the documents for every item; and how many windows were embedded."""
    bm25 = bm25s.BM25()
    bm25.index([jieba_tokens(t) for t in texts], show_progress=False)
    embedder = embedder_from_settings(Settings.from_env())
    windowed = [(d, w) for d, t in enumerate(texts) for w in windows(t)]
    vectors = embedder.embed_passages([w for _, w in windowed])
    queries = embedder.embed_queries([i.question for i in items])
    win_doc = np.asarray([d for d, _ in windowed])
    rankings: dict[str, list[list[int]]] = {"bm25": [], "dense": [], "fusion": []}
    for qi, item in enumerate(items):
        q = jieba_tokens(item.question)
        sparse: list[int] = []
        if q:
            found, scores = bm25.retrieve([q], k=min(depth, len(texts)), show_progress=False)
            sparse = [int(d) for d, s in zip(found[0], scores[0], strict=True) if s > 0]
        dense = dense_docs(vectors @ queries[qi], win_doc, depth)
        rankings["bm25"].append(sparse)
        rankings["dense"].append(dense)
        rankings["fusion"].append(rrf(sparse, dense))
    return rankings, len(windowed)


def score(rankings: dict[str, list[list[int]]], items: list[Any], paths: list[str]) -> dict[str, Any]:
    """hit@k and MRR@10 of each baseline, over all items and per language."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, ranked in rankings.items():
        groups: dict[str, list[list[bool]]] = {"all": []}
        for item, docs_ranked in zip(items, ranked, strict=True):
            gold = set(item.gold)
            relevant = [paths[d] in gold for d in docs_ranked[:10]]
            groups["all"].append(relevant)
            groups.setdefault(item.lang, []).append(relevant)
        out[name] = {
            group: {
                **{f"hit@{k}": round(float(np.mean([hit_at(r, k) for r in rel])), 3) for k in KS},
                "mrr@10": round(float(np.mean([mrr_at(r, 10) for r in rel])), 3),
                "n": len(rel),
            }
            for group, rel in groups.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", default=str(REPO.parent / "shared" / "corpora" / "tp-cn"))
    parser.add_argument("--dataset", default=str(REPO / "eval" / "datasets" / "tp-cn.jsonl"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    docs = read_source(Path(args.corpus)).documents
    paths = [d.path for d in docs]
    items = [i for i in load_dataset(Path(args.dataset)) if i.expected == "answer"]
    rankings, n_windows = rank_all([d.text() for d in docs], items)
    out = score(rankings, items, paths)
    if args.json:
        print(json.dumps({"corpus": args.corpus, "dataset": args.dataset, "baselines": out}, indent=2))
        return
    print(f"{len(items)} answer items, {len(docs)} documents, {n_windows} windows of {WINDOW} characters")
    for name, groups in out.items():
        for group, m in groups.items():
            cells = "  ".join(f"{k} {v}" for k, v in m.items())
            print(f"{name:7} {group:4} {cells}")


if __name__ == "__main__":
    main()
