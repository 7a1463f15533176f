"""``kefu eval --mode full``: answers, citations, handoff decisions and selective answering.

Each item goes through the same Answerer the service uses. An answer is *accurate* when
every fact of the item is in it (after normalising case, width, traditional/simplified and
spacing) and it cites at least one gold document. For the risk-coverage curve every answer
item keeps its confidence and whether its answer (or, for a low-confidence handoff, the
draft the agent would see) is accurate, so the threshold can be swept afterwards.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.dataset import EvalItem
from eval.metrics import percentile
from kefu.text import normalise
from service.answerer import Answerer, AnswerResult

RULE_REASONS = ("stolen_funds", "secret_shared", "human_requested", "compensation", "account_lookup", "out_of_scope")


def normalise_fact(text: str) -> str:
    """Case, width, traditional/simplified and spacing folded away."""
    return re.sub(r"\s+", "", normalise(text).lower())


def fact_hits(answer: str, facts: Sequence[str]) -> list[bool]:
    body = normalise_fact(answer)
    return [normalise_fact(f) in body for f in facts]


@dataclass
class ItemOutcome:
    item: EvalItem
    action: str
    reason: str
    mode: str
    confidence: float
    #: The text judged: the answer, or the draft of a low-confidence handoff.
    judged_text: str
    cited_docs: list[list[str]]
    facts_found: list[bool]
    first_token_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    rules: list[str] = field(default_factory=list)
    answer: str = ""

    @property
    def gold_cited(self) -> bool:
        gold = set(self.item.gold)
        return any(gold.intersection(paths) for paths in self.cited_docs)

    @property
    def accurate(self) -> bool:
        return bool(self.judged_text) and all(self.facts_found) and self.gold_cited

    @property
    def fact_recall(self) -> float:
        return sum(self.facts_found) / len(self.facts_found) if self.facts_found else 1.0

    def citation_precision(self) -> float | None:
        if not self.cited_docs:
            return None
        gold = set(self.item.gold)
        return sum(1 for paths in self.cited_docs if gold.intersection(paths)) / len(self.cited_docs)


def _judged(result: AnswerResult) -> tuple[str, list[list[str]]]:
    paths_of = {h.doc_id: h.paths for h in result.hits}
    if result.action == "answer":
        return result.answer, [paths_of.get(c.source, [c.source]) for c in result.citations]
    draft = result.handoff.suggested_reply if result.handoff and result.reason in (
        "low_confidence", "no_answer", "llm_unavailable", "unsafe_answer"
    ) else ""  # fmt: skip
    by_n = {s.n: s.doc_id for s in result.sources}
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", draft or "")]
    docs = [paths_of.get(by_n[n], [by_n[n]]) for n in dict.fromkeys(cited) if n in by_n]
    return draft or "", docs


async def run_item(answerer: Answerer, item: EvalItem) -> ItemOutcome:
    start = time.perf_counter()
    result = await answerer.answer(item.question, lang=None)
    total = (time.perf_counter() - start) * 1000
    text, docs = _judged(result)
    return ItemOutcome(
        item=item,
        action=result.action,
        reason=result.reason,
        mode=result.mode,
        confidence=result.confidence,
        judged_text=text,
        cited_docs=docs,
        facts_found=fact_hits(text, item.facts),
        first_token_ms=result.timings_ms.get("first_token"),
        total_ms=total,
        prompt_tokens=result.usage.get("prompt_tokens"),
        completion_tokens=result.usage.get("completion_tokens"),
        rules=result.rules,
        answer=result.answer,
    )


def risk_coverage(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Sweep the confidence threshold over answer items that reached a decision by score."""
    scored = sorted(
        ((o.confidence, o.accurate) for o in outcomes if o.item.expected == "answer" and not o.rules),
        key=lambda x: -x[0],
    )
    n = len(scored)
    curve = []
    correct = 0
    for i, (conf, ok) in enumerate(scored, start=1):
        correct += ok
        curve.append({"threshold": round(conf, 4), "coverage": round(i / n, 4), "accuracy": round(correct / i, 4)})
    aurc = sum(1 - p["accuracy"] for p in curve) / n if n else 0.0

    def coverage_at(acc: float) -> tuple[float, float | None]:
        best: tuple[float, float | None] = (0.0, None)
        for p in curve:
            if p["accuracy"] >= acc:
                best = (p["coverage"], p["threshold"])
        return best

    def accuracy_at(cov: float) -> float | None:
        pts = [p for p in curve if p["coverage"] >= cov]
        return pts[0]["accuracy"] if pts else None

    c90, t90 = coverage_at(0.9)
    c95, t95 = coverage_at(0.95)
    return {
        "n": n,
        "aurc": round(aurc, 4),
        "coverage_at_90_accuracy": c90,
        "threshold_at_90_accuracy": t90,
        "coverage_at_95_accuracy": c95,
        "threshold_at_95_accuracy": t95,
        "accuracy_at_coverage": {f"{c:.1f}": accuracy_at(c) for c in (0.2, 0.4, 0.6, 0.8, 1.0)},
        "curve": curve,
    }


def summarise(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    answer_items = [o for o in outcomes if o.item.expected == "answer"]
    handoff_items = [o for o in outcomes if o.item.expected == "handoff"]
    answered = [o for o in answer_items if o.action == "answer"]
    precisions = [p for o in answered if (p := o.citation_precision()) is not None]
    by_reason: dict[str, dict[str, float]] = {}
    for reason in RULE_REASONS:
        items = [o for o in handoff_items if o.item.reason == reason]
        if items:
            by_reason[reason] = {
                "n": len(items),
                "handed_off": round(sum(o.action == "handoff" for o in items) / len(items), 4),
                "reason_matched": round(sum(o.reason == reason for o in items) / len(items), 4),
            }
    tp = sum(o.action == "handoff" for o in handoff_items)
    fp = sum(o.action == "handoff" for o in answer_items)
    fn = len(handoff_items) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    firsts = [o.first_token_ms for o in outcomes if o.first_token_ms is not None and o.mode == "generated"]
    totals = [o.total_ms for o in outcomes if o.mode in ("generated", "extractive")]
    prompts = [o.prompt_tokens for o in outcomes if o.prompt_tokens]
    return {
        "answers": {
            "n": len(answer_items),
            "answered": round(len(answered) / len(answer_items), 4) if answer_items else 0.0,
            "accuracy_of_answered": round(sum(o.accurate for o in answered) / len(answered), 4) if answered else 0.0,
            "accurate_share_of_all": round(sum(o.accurate for o in answered) / len(answer_items), 4)
            if answer_items
            else 0.0,
            "fact_recall": round(sum(o.fact_recall for o in answered) / len(answered), 4) if answered else 0.0,
            "citation_precision": round(sum(precisions) / len(precisions), 4) if precisions else 0.0,
            "citation_recall": round(sum(o.gold_cited for o in answered) / len(answered), 4) if answered else 0.0,
            "wrongly_handed_off": round(fp / len(answer_items), 4) if answer_items else 0.0,
            "by_mode": dict(sorted(_count(o.mode for o in answer_items).items())),
            "handoff_reasons": dict(sorted(_count(o.reason for o in answer_items if o.action == "handoff").items())),
        },
        "handoff": {
            "n": len(handoff_items),
            "handed_off": round(tp / len(handoff_items), 4) if handoff_items else 0.0,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "by_reason": by_reason,
        },
        "selective": risk_coverage(outcomes),
        "latency_ms": {
            "first_token_p50": round(percentile(firsts, 50), 1) if firsts else None,
            "first_token_p95": round(percentile(firsts, 95), 1) if firsts else None,
            "total_p50": round(percentile(totals, 50), 1) if totals else None,
            "total_p95": round(percentile(totals, 95), 1) if totals else None,
            "prompt_tokens_p50": percentile([float(p) for p in prompts], 50) if prompts else None,
        },
    }


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


async def run_full_eval(
    items: Sequence[EvalItem],
    answerer: Answerer,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[ItemOutcome]]:
    outcomes = []
    for n, item in enumerate(items, start=1):
        outcomes.append(await run_item(answerer, item))
        if progress:
            progress(n, len(items))
    return summarise(outcomes), outcomes


def outcome_row(o: ItemOutcome) -> dict[str, Any]:
    return {
        "id": o.item.id,
        "question": o.item.question,
        "lang": o.item.lang,
        "category": o.item.category,
        "expected": o.item.expected,
        "expected_reason": o.item.reason,
        "action": o.action,
        "reason": o.reason,
        "mode": o.mode,
        "confidence": o.confidence,
        "accurate": o.accurate,
        "facts": list(o.item.facts),
        "facts_found": o.facts_found,
        "gold": list(o.item.gold),
        "cited": [p[0] for p in o.cited_docs],
        "answer": o.answer,
        "judged_text": o.judged_text,
        "first_token_ms": o.first_token_ms,
        "total_ms": round(o.total_ms, 1),
        "prompt_tokens": o.prompt_tokens,
        "completion_tokens": o.completion_tokens,
    }
