"""Ingest wall times on a real help center: from nothing, unchanged, one article changed.

Usage: python bench/ingest_times.py [CORPUS] [--json]   (default CORPUS: ../shared/corpora/tp-cn)
Works on a copy of the corpus in a temporary data dir; the project's own index is untouched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from ingest.pipeline import run_ingest
from kefu.embedder import embedder_from_settings
from kefu.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", default=str(REPO.parent / "shared" / "corpora" / "tp-cn"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = embedder_from_settings(settings)
    t = time.perf_counter()
    embedder.warm_up()
    load = time.perf_counter() - t
    results: dict[str, object] = {"embedder_load_seconds": round(load, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus)
        data = Path(tmp) / "data"
        runs = []
        for label in ("from nothing", "nothing changed", "one article changed"):
            if label == "one article changed":
                target = sorted(p for p in corpus.rglob("*.md") if p.name != "SUMMARY.md")[len(runs) * 7]
                target.write_text(target.read_text(encoding="utf-8") + "\n\n补充说明：本文已更新。\n", encoding="utf-8")
            start = time.perf_counter()
            report = run_ingest([corpus], data_dir=data, index_name="bench", embedder=embedder)
            runs.append(
                {
                    "run": label,
                    "wall_seconds": round(time.perf_counter() - start, 2),
                    "documents": report.documents,
                    "chunks": report.chunks,
                    "embedded_chunks": report.embedded_chunks,
                    "stages": {k: round(v, 2) for k, v in report.stages.items()},
                }
            )
        results["runs"] = runs
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    print(f"embedder load {results['embedder_load_seconds']} s (not counted below)")
    for r in runs:
        print(f"{r['run']:22} {r['wall_seconds']:7.2f} s  chunks {r['chunks']}, embedded {r['embedded_chunks']}")


if __name__ == "__main__":
    main()
