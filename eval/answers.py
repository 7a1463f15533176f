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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from eval.dataset import EvalItem
from eval.metrics import confidence_sweep, percentile
from kefu.text import detect_language, normalise
from kefu.vocab import RULE_REASONS
from service.answerer import AnswerResult, result_dict
from service.confidence import Calibration, Evidence


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
    evidence: dict[str, float] = field(default_factory=dict)
    #: Ranked document paths the answerer retrieved (its search, as the deployment ran it).
    ranked: list[list[str]] = field(default_factory=list)
    #: The LLM judge's verdict on the judged text, when a judge ran.
    judge: bool | None = None

    @property
    def gold_cited(self) -> bool:
        gold = set(self.item.gold)
        return any(gold.intersection(paths) for paths in self.cited_docs)

    @property
    def accurate(self) -> bool:
        return bool(self.judged_text) and all(self.facts_found) and self.gold_cited

    @property
    def correct(self) -> bool:
        """The measure that agrees with human review (docs/answers.md): a gold document cited, at
        least half the facts, and the answer in the user's language. All the facts ask for the
        item writer's words where a good answer may paraphrase or cut them; a Chinese passage
        shown to an English user helps little, whatever facts it holds."""
        if not self.judged_text or not self.gold_cited or self.fact_recall < 0.5:
            return False
        lines = self.judged_text.strip().splitlines()
        body = "\n".join(lines[:-1]) if len(lines) > 1 else self.judged_text
        return detect_language(body) == self.item.lang

    @property
    def fact_recall(self) -> float:
        return sum(self.facts_found) / len(self.facts_found) if self.facts_found else 1.0

    def citation_precision(self) -> float | None:
        if not self.cited_docs:
            return None
        gold = set(self.item.gold)
        return sum(1 for paths in self.cited_docs if gold.intersection(paths)) / len(self.cited_docs)


class QuestionAnswerer(Protocol):
    """What the eval asks questions of: the in-process Answerer, or a deployment over HTTP."""

    async def answer(self, question: str, *, lang: str | None = None) -> AnswerResult: ...


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


async def run_item(answerer: QuestionAnswerer, item: EvalItem) -> ItemOutcome:
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
        evidence={k: round(float(v), 4) for k, v in result_dict(result)["evidence"].items()},
        ranked=[list(h.paths) for h in result.hits],
    )


#: Reasons whose decision the threshold cannot move: the handoffs taken whatever the score, and
#: a scam warning, shown whatever the score of what follows it (so it is not part of what a
#: threshold promises, and is not in the risk-coverage sweep or the calibration).
FIXED_REASONS = (*RULE_REASONS, "no_sources", "unsafe_answer", "no_answer", "fraud_warning")


def kept_back(
    calibration: Calibration, action: str, reason: str | None, evidence: Mapping[str, Any], confidence: float
) -> bool:
    """Whether an answer given at threshold 0 is one the service would keep back at
    ``calibration``'s threshold (a handoff with the answer as the agent's draft)."""
    known = {f.name for f in fields(Evidence)}
    ev = Evidence(**{k: v for k, v in evidence.items() if k in known})
    return action == "answer" and reason not in FIXED_REASONS and not calibration.answers(ev, confidence)


def apply_threshold(outcomes: Sequence[ItemOutcome], threshold: float) -> list[ItemOutcome]:
    """The decisions the service would take at ``threshold``, from answers generated without one.

    The eval generates an answer for every item the rules let through (threshold 0), so the
    threshold can be swept and calibrated afterwards; this re-applies the real threshold:
    an answer below it becomes a ``low_confidence`` handoff with the answer as the agent's
    draft, exactly as the answerer decides.
    """
    calibration = Calibration(threshold=threshold)
    out = []
    for o in outcomes:
        if kept_back(calibration, o.action, o.reason, o.evidence, o.confidence):
            reason = "llm_unavailable" if o.mode == "extractive" else "low_confidence"
            out.append(replace(o, action="handoff", reason=reason, answer=""))
        else:
            out.append(o)
    return out


def _scored(outcomes: Sequence[ItemOutcome]) -> list[ItemOutcome]:
    """Answer items whose decision is the score's: no rule fired, and there was text to judge."""
    return [o for o in outcomes if o.item.expected == "answer" and o.reason not in FIXED_REASONS and o.judged_text]


def risk_coverage(
    outcomes: Sequence[ItemOutcome], judge: Callable[[ItemOutcome], bool] = lambda o: o.accurate
) -> dict[str, Any]:
    """Sweep the confidence threshold over answer items that reached a decision by score,
    each answer judged by ``judge`` (the fact-based ``accurate`` unless told)."""
    return confidence_sweep([(o.confidence, judge(o)) for o in _scored(outcomes)])


def calibration_error(outcomes: Sequence[ItemOutcome], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and the reliability diagram's bins (equal-width confidence bins)."""
    scored = _scored(outcomes)
    table: list[dict[str, float | None]] = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [o for o in scored if lo <= o.confidence < hi or (b == bins - 1 and o.confidence == 1.0)]
        if inside:
            conf = sum(o.confidence for o in inside) / len(inside)
            acc = sum(o.accurate for o in inside) / len(inside)
            ece += len(inside) / len(scored) * abs(conf - acc)
            table.append({"lo": lo, "hi": hi, "n": len(inside), "mean_confidence": round(conf, 4),
                          "accuracy": round(acc, 4)})  # fmt: skip
        else:
            table.append({"lo": lo, "hi": hi, "n": 0, "mean_confidence": None, "accuracy": None})
    return {"n": len(scored), "ece": round(ece, 4), "bins": table}


def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


#: Modes whose text a user is shown as the answer.
SHOWN_MODES = ("quoted", "generated", "extractive")


def answer_metrics(answer_items: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Answer quality over answer items (expected == "answer")."""
    answered = [o for o in answer_items if o.action == "answer"]
    precisions = [p for o in answered if (p := o.citation_precision()) is not None]
    generated = [o for o in answered if o.mode == "generated"]
    return {
        "n": len(answer_items),
        "answered": _ratio(len(answered), len(answer_items)),
        "accuracy_of_answered": _ratio(sum(o.accurate for o in answered), len(answered)),
        "correct_of_answered": _ratio(sum(o.correct for o in answered), len(answered)),
        "accurate_share_of_all": _ratio(sum(o.accurate for o in answered), len(answer_items)),
        "fact_recall": _ratio(sum(o.fact_recall for o in answered), len(answered)),
        "citation_precision": _ratio(sum(precisions), len(precisions)),
        "citation_recall": _ratio(sum(o.gold_cited for o in answered), len(answered)),
        "groundedness": _ratio(sum(o.evidence.get("grounded", 0.0) for o in generated), len(generated)),
        "wrongly_handed_off": _ratio(sum(o.action == "handoff" for o in answer_items), len(answer_items)),
    }


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def handoff_metrics(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Handoff decisions against the expected ones: overall, and per rule reason."""
    handoff_items = [o for o in outcomes if o.item.expected == "handoff"]
    answer_items = [o for o in outcomes if o.item.expected == "answer"]
    tp = sum(o.action == "handoff" for o in handoff_items)
    fp = sum(o.action == "handoff" for o in answer_items)
    by_reason: dict[str, dict[str, float]] = {}
    for reason in RULE_REASONS:
        expected = [o for o in handoff_items if o.item.reason == reason]
        predicted = [o for o in outcomes if o.action == "handoff" and o.reason == reason]
        if not expected and not predicted:
            continue
        hit = sum(o.item.expected == "handoff" and o.item.reason == reason for o in predicted)
        by_reason[reason] = _undefined_without(expected, {
            "n": len(expected),
            "handed_off": _ratio(sum(o.action == "handoff" for o in expected), len(expected)),
            "reason_matched": _ratio(sum(o.reason == reason for o in expected), len(expected)),
            **_prf(hit, len(predicted) - hit, len(expected) - hit),
        })  # fmt: skip
    n = len(handoff_items)
    overall = {"n": n, "handed_off": _ratio(tp, n), **_prf(tp, fp, n - tp)}
    return {**_undefined_without(handoff_items, overall), "by_reason": by_reason}


def _undefined_without(expected: Sequence[ItemOutcome], figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` with the shares of must-handoff items as None (not 0) when there are none: a
    dataset without them says nothing of how many were handed off."""
    if expected:
        return figures
    return {k: None if k in ("handed_off", "reason_matched", "recall", "f1") else v for k, v in figures.items()}


def summarise(outcomes: Sequence[ItemOutcome], threshold: float | None = None) -> dict[str, Any]:
    """All answer-side metrics; with ``threshold``, the decisions are re-taken at it first."""
    sweep = list(outcomes)
    if threshold is not None:
        outcomes = apply_threshold(outcomes, threshold)
    answer_items = [o for o in outcomes if o.item.expected == "answer"]
    by_lang: dict[str, list[ItemOutcome]] = defaultdict(list)
    by_cat: dict[str, list[ItemOutcome]] = defaultdict(list)
    for o in answer_items:
        by_lang[o.item.lang].append(o)
        by_cat[o.item.category or "-"].append(o)
    # Latency of the text users see (quoted, generated, extractive), and of the LLM's answers alone.
    firsts = [o.first_token_ms for o in outcomes if o.first_token_ms is not None and o.mode in SHOWN_MODES]
    totals = [o.total_ms for o in outcomes if o.mode in SHOWN_MODES]
    llm_firsts = [o.first_token_ms for o in outcomes if o.first_token_ms is not None and o.mode == "generated"]
    llm_totals = [o.total_ms for o in outcomes if o.mode == "generated"]
    prompts = [float(o.prompt_tokens) for o in outcomes if o.prompt_tokens]
    completions = [float(o.completion_tokens) for o in outcomes if o.completion_tokens]

    def p(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 1) if values else None

    answers = answer_metrics(answer_items)
    answers["by_mode"] = dict(sorted(_count(o.mode for o in answer_items).items()))
    answers["handoff_reasons"] = dict(sorted(_count(o.reason for o in answer_items if o.action == "handoff").items()))
    answers["by_lang"] = {k: answer_metrics(v) for k, v in sorted(by_lang.items())}
    answers["by_category"] = {k: answer_metrics(v) for k, v in sorted(by_cat.items())}
    judged = [o for o in answer_items if o.action == "answer" and o.judge is not None]
    summary: dict[str, Any] = {
        "answers": answers,
        "handoff": handoff_metrics(outcomes),
        # The sweep and the calibration error do not depend on the threshold in use.
        "selective": risk_coverage(sweep),
        # The same sweep judged by the measure that agrees with human review.
        "selective_correct": {k: v for k, v in risk_coverage(sweep, lambda o: o.correct).items() if k != "curve"},
        "calibration": {**calibration_error(sweep), "threshold": threshold},
        "latency_ms": {
            "first_token_p50": p(firsts, 50),
            "first_token_p95": p(firsts, 95),
            "total_p50": p(totals, 50),
            "total_p95": p(totals, 95),
            "llm_first_token_p50": p(llm_firsts, 50),
            "llm_first_token_p95": p(llm_firsts, 95),
            "llm_total_p50": p(llm_totals, 50),
            "llm_total_p95": p(llm_totals, 95),
            "prompt_tokens_p50": p(prompts, 50),
            "completion_tokens_p50": p(completions, 50),
        },
    }
    if judged:
        summary["judge"] = {
            "n": len(judged),
            "accuracy_of_answered": _ratio(sum(bool(o.judge) for o in judged), len(judged)),
            "agreement_with_facts": _ratio(sum(bool(o.judge) == o.accurate for o in judged), len(judged)),
        }
    return summary


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(out)


async def run_full_eval(
    items: Sequence[EvalItem],
    answerer: QuestionAnswerer,
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
        **o.item.row_fields(),
        "expected": o.item.expected,
        "expected_reason": o.item.reason,
        "action": o.action,
        "reason": o.reason,
        "mode": o.mode,
        "confidence": o.confidence,
        "accurate": o.accurate,
        "correct": o.correct,
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
        "rules": o.rules,
        "evidence": o.evidence,
        "ranked": [paths[0] for paths in o.ranked[:10]],
        "judge": o.judge,
    }
