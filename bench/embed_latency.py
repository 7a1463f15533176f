"""One question's embedding time on each runtime (the floor under a search's latency).

For each runtime (torch, onnx, onnx-int8 by default): load the configured embedder on it,
embed each question of a dataset alone (after a few to warm up), and report p50/p95 per
question, plus the time of one call with eight questions. Runtimes whose file is missing
fall back to torch (kefu.onnx_embedder) and are reported as what actually ran.

Usage: python bench/embed_latency.py [--dataset FILE] [--runtime torch --runtime onnx ...]
       [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eval.dataset import load_dataset
from eval.metrics import percentile
from kefu.embedder import embedder_from_settings
from kefu.settings import EMBED_RUNTIMES, Settings

REPO = Path(__file__).resolve().parent.parent


def measure(settings: Settings, questions: list[str], repeat: int) -> dict[str, object]:
    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    for q in questions[:5]:
        embedder.embed_queries([q])
    one: list[float] = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter()
            embedder.embed_queries([q])
            one.append((time.perf_counter() - start) * 1000)
    eight: list[float] = []
    for start_at in range(0, len(questions) - 7, 8):
        start = time.perf_counter()
        embedder.embed_queries(questions[start_at : start_at + 8])
        eight.append((time.perf_counter() - start) * 1000)
    return {
        "runtime": settings.embed_runtime,
        "ran_on": type(embedder).__name__ + (f" ({embedder.onnx_path.name})" if hasattr(embedder, "onnx_path") else ""),
        "questions": len(one),
        "one_p50_ms": round(percentile(one, 50), 2),
        "one_p95_ms": round(percentile(one, 95), 2),
        "eight_in_one_call_p50_ms": round(percentile(eight, 50), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(REPO / "eval" / "datasets" / "harbor.jsonl"))
    parser.add_argument("--runtime", action="append", choices=EMBED_RUNTIMES)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = [item.question for item in load_dataset(Path(args.dataset))]
    base = Settings.from_env()
    rows = [
        measure(base.with_overrides(embed_runtime=runtime), questions, args.repeat)
        for runtime in args.runtime or EMBED_RUNTIMES
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(
            f"{r['runtime']:9} on {r['ran_on']}: one question p50 {r['one_p50_ms']} ms, p95 {r['one_p95_ms']} ms "
            f"({r['questions']} calls); eight in one call p50 {r['eight_in_one_call_p50_ms']} ms"
        )


if __name__ == "__main__":
    main()
