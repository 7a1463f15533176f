"""Chinese answer items of an eval dataset through the quote path (no LLM): how many answers
are `correct` and `accurate`, their length and sources, and where the answers are written.

    .venv/bin/python bench/answer_sweep.py eval/datasets/tp-cn.jsonl [--index tp-cn] [--out FILE]

The quote path needs no LLM, so a dataset's Chinese items take a minute or two; use it to
compare sentence-selection settings before a full `kefu eval` run (docs/answers.md). With
`--lang en` the English items go the same way: with no LLM to render them they get the
sentences chosen for the rendering as they stand, so `accurate` says whether those sentences
hold the expected facts (`correct`, which wants English, is then 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from eval.answers import run_item
from eval.dataset import load_dataset
from kefu.errors import BackendUnavailableError
from kefu.generators.base import ChatMessage, Chunk, GenerationOptions, GeneratorHealth
from kefu.settings import Settings
from service.answerer import Answerer
from service.confidence import calibration_for
from service.retriever import retriever_from_settings

LANGUAGE = {"zh": "Chinese", "en": "English"}


class NoLLM:
    """A generator that is never there: a Chinese quote must not need one."""

    name = "none"

    async def warm_up(self) -> None:
        raise BackendUnavailableError("no LLM in this benchmark")

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None
    ) -> AsyncIterator[Chunk]:
        raise BackendUnavailableError("no LLM in this benchmark")
        yield Chunk("")  # pragma: no cover - makes this an async generator

    def health(self) -> GeneratorHealth:
        return GeneratorHealth(ready=False, detail="no LLM in this benchmark")

    async def close(self) -> None:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--index", default="tp-cn")
    parser.add_argument("--out", type=Path, help="write one JSON line per item here")
    parser.add_argument("--lang", choices=("zh", "en"), default="zh", help="the items of this language (default zh)")
    args = parser.parse_args()
    settings = Settings.from_env()
    answerer = Answerer(
        retriever_from_settings(settings, args.index), NoLLM(),
        calibration=calibration_for(settings.data_dir, settings.calibration_path), style="quote",
        official_domains=settings.official_domains,
    )  # fmt: skip
    items = [i for i in load_dataset(args.dataset) if i.expected == "answer" and i.lang == args.lang]
    rows = []
    start = time.perf_counter()
    for item in items:
        o = await run_item(answerer, item)
        rows.append({
            "id": item.id, "action": o.action, "reason": o.reason, "confidence": o.confidence,
            "evidence": o.evidence, "mode": o.mode, "correct": o.correct, "accurate": o.accurate,
            "chars": len(o.answer), "sources": len(o.cited_docs), "ms": round(o.total_ms, 1), "answer": o.answer,
        })  # fmt: skip
    answered = [r for r in rows if r["action"] == "answer"]
    n = max(1, len(answered))
    print(
        f"{args.dataset} ({len(rows)} {LANGUAGE[args.lang]} answer items, "
        f"{time.perf_counter() - start:.0f} s): answered "
        f"{len(answered)}, correct {sum(r['correct'] for r in answered) / n:.3f}, accurate "
        f"{sum(r['accurate'] for r in answered) / n:.3f} of answered; characters "
        f"{statistics.mean(r['chars'] for r in answered):.0f}, "
        f"sources {statistics.mean(r['sources'] for r in answered):.2f}, "
        f"p50 {statistics.median(r['ms'] for r in rows):.0f} ms"
    )
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
