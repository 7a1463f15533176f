"""Search latency, warm, in-process: p50/p95 over an eval dataset's questions.

Usage: python bench/search_latency.py [--index NAME] [--dataset FILE] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eval.dataset import load_dataset
from eval.metrics import percentile
from kefu.settings import Settings
from service.retriever import retriever_from_settings

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="tp-cn")
    parser.add_argument("--dataset", default=str(REPO / "eval" / "datasets" / "tp-cn.jsonl"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    retriever = retriever_from_settings(Settings.from_env(), args.index)
    retriever.warm_up()
    questions = [item.question for item in load_dataset(Path(args.dataset))]
    totals: list[float] = []
    parts: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for q in questions:
            start = time.perf_counter()
            result = retriever.search(q, k=args.k)
            totals.append((time.perf_counter() - start) * 1000)
            for name, ms in result.timings_ms.items():
                parts.setdefault(name, []).append(ms)
    out = {
        "index": args.index,
        "queries": len(totals),
        "chunks": len(retriever.index.chunks),
        "p50_ms": round(percentile(totals, 50), 2),
        "p95_ms": round(percentile(totals, 95), 2),
        "parts_p50_ms": {name: round(percentile(v, 50), 2) for name, v in parts.items()},
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['queries']} searches over {out['chunks']} chunks: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms")
        print("  p50 by stage: " + ", ".join(f"{k} {v} ms" for k, v in out["parts_p50_ms"].items()))


if __name__ == "__main__":
    main()
