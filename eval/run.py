"""One ``kefu eval`` run: retrieval, answers, handoff rules, calibration and latency, with its outputs.

Modes:
- ``retrieval``: search only (fast; no LLM);
- ``full``: every item through the answerer with the configured LLM;
- ``ci``: what a build can afford: retrieval and the handoff rules on every item, the LLM
  on a small fixed sample of answer items (and on handoff items the rules let through).

In-process runs generate an answer for every item the rules let through (threshold 0) and
then apply the configured threshold, so the same run yields the decisions the service
takes and the whole risk-coverage sweep that ``kefu eval calibrate`` fits. With ``url``
the questions go to a running deployment instead, which decides with its own threshold.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.answers import ItemOutcome, QuestionAnswerer, outcome_row, run_item, summarise
from eval.dataset import EvalItem, load_dataset
from eval.retrieval import (
    RetrievalOutcome,
    outcome_from_ranked,
    result_row,
    retrieval_summary,
    run_retrieval_eval,
)
from eval.retrieval import write_outputs as write_retrieval_outputs
from kefu.vocab import RULE_REASONS

if TYPE_CHECKING:
    from kefu.embedder import Embedder
    from kefu.generators import Generator
    from kefu.settings import Settings

MODES = ("retrieval", "full", "ci")
#: Progress callback factory: stage name -> (done, total) callback.
ProgressFactory = Callable[[str], Callable[[int, int], None]]


@dataclass(frozen=True)
class EvalConfig:
    dataset: Path
    mode: str = "retrieval"
    index: str | None = None
    limit: int | None = None
    fusion: str | None = None  # None: the search's own default
    out: Path | None = None
    url: str | None = None
    api_key: str | None = None
    judge: bool = False
    #: ``ci`` mode: how many answer items go through the LLM.
    sample: int = 8


def ci_sample(items: Sequence[EvalItem], n: int) -> list[EvalItem]:
    """A fixed, evenly spread sample of ``n`` answer items (the same every run)."""
    answer_items = [i for i in items if i.expected == "answer"]
    if n <= 0:  # --sample 0: the rules and search only, no LLM answers
        return []
    if n >= len(answer_items):
        return answer_items
    step = len(answer_items) / n
    return [answer_items[int(k * step)] for k in range(n)]


def rules_metrics(items: Sequence[EvalItem], reasons_of: Callable[[EvalItem], list[str]]) -> dict[str, Any]:
    """The handoff rules alone (no search, no LLM) on every item: what they catch and what they wrongly catch."""
    handoff = [i for i in items if i.expected == "handoff"]
    answer = [i for i in items if i.expected == "answer"]
    fired = {i.id: reasons_of(i) for i in items}
    by_reason: dict[str, dict[str, float]] = {}
    for reason in RULE_REASONS:
        expected = [i for i in handoff if i.reason == reason]
        if expected:
            by_reason[reason] = {
                "n": len(expected),
                "caught": round(sum(bool(fired[i.id]) for i in expected) / len(expected), 4),
                "reason_matched": round(sum(reason in fired[i.id][:1] for i in expected) / len(expected), 4),
            }
    return {
        "handoff_items": len(handoff),
        "caught": round(sum(bool(fired[i.id]) for i in handoff) / len(handoff), 4) if handoff else 0.0,
        "answer_items": len(answer),
        "false_positive_rate": round(sum(bool(fired[i.id]) for i in answer) / len(answer), 4) if answer else 0.0,
        "false_positives": sorted(i.id for i in answer if fired[i.id]),
        "by_reason": by_reason,
    }


def _noop(_: str) -> Callable[[int, int], None]:
    return lambda done, total: None


def run_eval(
    settings: Settings,
    config: EvalConfig,
    progress: ProgressFactory = _noop,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> tuple[dict[str, Any], list[RetrievalOutcome], list[ItemOutcome]]:
    """Run the eval; write its outputs when ``config.out`` is set; return metrics and per-item outcomes.

    ``embedder`` and ``generator`` replace the configured ones (tests, or a caller that has them loaded).
    """
    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    items = load_dataset(config.dataset)
    if config.limit:
        items = items[: config.limit]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    if config.url:
        metrics, retrieval, outcomes = _run_remote(config, items, progress)
    else:
        metrics, retrieval, outcomes = _run_local(
            settings, config, items, progress, embedder=embedder, generator=generator
        )
    metrics["config"] = {
        **metrics.get("config", {}),
        "mode": config.mode,
        "dataset": str(config.dataset),
        "items": len(items),
        "started_at": started,
        "judge": config.judge,
        **({"sample": config.sample} if config.mode == "ci" else {}),
    }
    if config.out:
        write_outputs(config.out, metrics, retrieval, outcomes)
    return metrics, retrieval, outcomes


def _run_local(
    settings: Settings,
    config: EvalConfig,
    items: list[EvalItem],
    progress: ProgressFactory,
    *,
    embedder: Embedder | None,
    generator: Generator | None,
) -> tuple[dict[str, Any], list[RetrievalOutcome], list[ItemOutcome]]:
    from service.answerer import answerer_from_settings
    from service.retriever import retriever_from_settings

    retriever = retriever_from_settings(settings, config.index, embedder=embedder, fusion=config.fusion)  # type: ignore[arg-type]
    retriever.warm_up()
    metrics, retrieval = run_retrieval_eval(items, retriever, progress=progress("searching"))
    metrics["config"] = {
        "index": retriever.index.manifest.name,
        "index_version": retriever.index.manifest.version,
        "embedder": retriever.index.manifest.embedder.get("model_id"),
        # The index's embedder adapter (`kefu ingest --adapt`), by the first 12 hex of its sha256.
        "embedder_adapter": (retriever.index.manifest.embedder.get("adapter") or {}).get("sha256", "")[:12] or None,
        "fusion": retriever.fusion,
    }
    if config.mode == "retrieval":
        return metrics, retrieval, []
    answerer = answerer_from_settings(settings, config.index, retriever=retriever, generator=generator)
    threshold = answerer.calibration.threshold
    metrics["rules"] = rules_metrics(items, lambda i: answerer.rule_reasons(i.question))
    to_answer = items
    if config.mode == "ci":
        sample = {i.id for i in ci_sample(items, config.sample)}
        to_answer = [i for i in items if i.id in sample or i.expected == "handoff"]
    # Generate for every item the rules let through; the threshold is applied afterwards.
    answerer.calibration = replace(answerer.calibration, threshold=0.0)

    async def answer_all() -> list[ItemOutcome]:
        await answerer.generator.warm_up()
        judge = None
        if config.judge:
            from eval.judge import LLMJudge

            judge = LLMJudge(answerer.generator)
        try:
            return await _answer_items(answerer, to_answer, progress("answering"), judge)
        finally:
            await answerer.generator.close()

    outcomes = asyncio.run(answer_all())
    summary = summarise(outcomes, threshold=threshold)
    metrics.update(_rename_latency(summary))
    metrics["config"].update(
        {"llm": answerer.generator.name, "threshold": threshold, "calibration": answerer.calibration.source}
    )
    return metrics, retrieval, outcomes


def _run_remote(
    config: EvalConfig, items: list[EvalItem], progress: ProgressFactory
) -> tuple[dict[str, Any], list[RetrievalOutcome], list[ItemOutcome]]:
    """Against a deployment: its answers, its decisions; retrieval read from the hits it returns."""
    from eval.remote import RemoteAnswerer

    assert config.url is not None
    to_answer = items
    if config.mode == "ci":
        sample = {i.id for i in ci_sample(items, config.sample)}
        to_answer = [i for i in items if i.id in sample or i.expected == "handoff"]
    elif config.mode == "retrieval":
        to_answer = [i for i in items if i.expected == "answer"]

    async def answer_all() -> list[ItemOutcome]:
        async with RemoteAnswerer(config.url or "", config.api_key, index=config.index) as remote:
            return await _answer_items(remote, to_answer, progress("answering"), None)

    outcomes = asyncio.run(answer_all())
    # Items the rules handed off were never searched: retrieval covers the rest.
    searched = [o for o in outcomes if o.item.expected == "answer" and o.ranked]
    retrieval = [outcome_from_ranked(o.item, o.ranked) for o in searched]
    metrics = retrieval_summary(retrieval, gold_missing=[])
    metrics["config"] = {"url": config.url, "index": config.index or "(the deployment's default)"}
    if config.mode != "retrieval":
        fired = {o.item.id: o.rules for o in outcomes}
        metrics["rules"] = rules_metrics([o.item for o in outcomes], lambda i: fired.get(i.id, []))
        metrics.update(_rename_latency(summarise(outcomes)))
    return metrics, retrieval, outcomes if config.mode != "retrieval" else []


async def _answer_items(
    answerer: QuestionAnswerer,
    items: Sequence[EvalItem],
    progress: Callable[[int, int], None],
    judge: Any,
) -> list[ItemOutcome]:
    outcomes = []
    for n, item in enumerate(items, start=1):
        outcome = await run_item(answerer, item)
        if judge is not None and item.expected == "answer" and outcome.judged_text:
            outcome.judge = await judge(item, outcome.judged_text)
        outcomes.append(outcome)
        progress(n, len(items))
    return outcomes


def _rename_latency(summary: dict[str, Any]) -> dict[str, Any]:
    summary["answer_latency_ms"] = summary.pop("latency_ms")
    return summary


def write_outputs(
    out: Path, metrics: dict[str, Any], retrieval: Sequence[RetrievalOutcome], outcomes: Sequence[ItemOutcome]
) -> None:
    """metrics.json, results.jsonl, report.md, answers.jsonl (answer modes) and report.html."""
    from eval.report_html import write_html

    write_retrieval_outputs(out, metrics, retrieval)
    rows = [outcome_row(o) for o in outcomes]
    if outcomes:
        tmp = out / "answers.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(out / "answers.jsonl")
    write_html(out / "report.html", metrics, rows, [result_row(o) for o in retrieval])
