"""``kefu eval --mode retrieval``: how well search finds the gold documents."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.dataset import EvalItem
from eval.metrics import first_relevant_rank, hit_at, mrr_at, ndcg_at, percentile
from service.retriever import HybridRetriever, SearchFilters

KS = (1, 3, 5, 10)


@dataclass
class RetrievalOutcome:
    item: EvalItem
    ranked: list[list[str]]  # the paths of each ranked document
    relevant: list[bool]
    n_relevant: int
    expansion: list[str]
    latency_ms: float

    def scores(self) -> dict[str, float]:
        out = {f"hit@{k}": hit_at(self.relevant, k) for k in KS}
        out["mrr@10"] = mrr_at(self.relevant, 10)
        out["ndcg@10"] = ndcg_at(self.relevant, self.n_relevant, 10)
        return out


def evaluate_item(
    retriever: HybridRetriever,
    item: EvalItem,
    k: int = 10,
    *,
    lang: str | None = None,
) -> RetrievalOutcome:
    """Search for the item's question and mark which hits are gold. With ``lang``, only that
    language's documents are searched, and only the gold documents in it count."""
    documents = retriever.index.document_by_path
    gold = set(item.gold)
    if lang is not None:
        gold = {g for g in gold if g in documents and documents[g].lang == lang}
    result = retriever.search(item.question, k=k, filters=SearchFilters(lang=lang) if lang else None)
    relevant = [bool(gold.intersection(hit.paths)) for hit in result.hits]
    # Gold paths that are copies of one document count once; a gold path the index does
    # not have still counts (search could never find it, and that should show).
    docs_for_gold = {documents[g].doc_id if g in documents else g for g in gold}
    return RetrievalOutcome(
        item=item,
        ranked=[hit.paths for hit in result.hits],
        relevant=relevant,
        n_relevant=len(docs_for_gold),
        expansion=result.expansion,
        latency_ms=result.timings_ms["total"],
    )


def outcome_from_ranked(item: EvalItem, ranked: list[list[str]], latency_ms: float = 0.0) -> RetrievalOutcome:
    """An outcome from a ranking read elsewhere (a deployment's answer); gold copies count separately."""
    gold = set(item.gold)
    return RetrievalOutcome(
        item=item,
        ranked=ranked,
        relevant=[bool(gold.intersection(paths)) for paths in ranked],
        n_relevant=len(gold),
        expansion=[],
        latency_ms=latency_ms,
    )


def cross_lingual_outcomes(retriever: HybridRetriever, items: Sequence[EvalItem]) -> dict[str, list[RetrievalOutcome]]:
    """Search across languages: each answer item whose gold includes documents in the other
    language (a Chinese question with an English article, or the reverse) is searched among
    that language's documents only. Keyed ``"zh->en"``, ``"en->zh"``."""
    documents = retriever.index.document_by_path
    out: dict[str, list[RetrievalOutcome]] = defaultdict(list)
    for item in items:
        other = {"zh": "en", "en": "zh"}.get(item.lang)
        if item.expected != "answer" or other is None:
            continue
        if any(g in documents and documents[g].lang == other for g in item.gold):
            out[f"{item.lang}->{other}"].append(evaluate_item(retriever, item, lang=other))
    return dict(sorted(out.items()))


def _aggregate(outcomes: Sequence[RetrievalOutcome]) -> dict[str, float]:
    if not outcomes:
        return {}
    sums: dict[str, float] = defaultdict(float)
    for o in outcomes:
        for name, value in o.scores().items():
            sums[name] += value
    out = {name: round(total / len(outcomes), 4) for name, total in sums.items()}
    out["n"] = len(outcomes)
    return out


def run_retrieval_eval(
    items: Sequence[EvalItem],
    retriever: HybridRetriever,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[RetrievalOutcome]]:
    """Metrics over the items with ``expected == "answer"``, overall, per lang and category."""
    answer_items = [i for i in items if i.expected == "answer"]
    documents = retriever.index.document_by_path
    missing = sorted({g for i in answer_items for g in i.gold if g not in documents})
    outcomes = []
    for n, item in enumerate(answer_items, start=1):
        outcomes.append(evaluate_item(retriever, item))
        if progress:
            progress(n, len(answer_items))
    metrics = retrieval_summary(outcomes, gold_missing=missing)
    crossed = cross_lingual_outcomes(retriever, answer_items)
    if crossed:
        metrics["retrieval"]["cross_lingual"] = {pair: _aggregate(found) for pair, found in crossed.items()}
    return metrics, outcomes


def retrieval_summary(outcomes: Sequence[RetrievalOutcome], *, gold_missing: list[str]) -> dict[str, Any]:
    """hit@k, MRR@10 and nDCG@10 overall, per language and per category, and search latency."""
    by_lang: dict[str, list[RetrievalOutcome]] = defaultdict(list)
    by_cat: dict[str, list[RetrievalOutcome]] = defaultdict(list)
    for o in outcomes:
        by_lang[o.item.lang].append(o)
        by_cat[o.item.category or "-"].append(o)
    latencies = [o.latency_ms for o in outcomes]
    return {
        "retrieval": {
            **_aggregate(outcomes),
            "by_lang": {k: _aggregate(v) for k, v in sorted(by_lang.items())},
            "by_category": {k: _aggregate(v) for k, v in sorted(by_cat.items())},
        },
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2) if latencies else None,
            "p95": round(percentile(latencies, 95), 2) if latencies else None,
        },
        "gold_missing_from_index": gold_missing,
    }


def write_outputs(out_dir: Path, metrics: dict[str, Any], outcomes: Sequence[RetrievalOutcome]) -> None:
    """``metrics.json``, ``results.jsonl`` (one line per item) and a readable ``report.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    with (out_dir / "results.jsonl").open("w", encoding="utf-8") as f:
        for o in outcomes:
            f.write(json.dumps(result_row(o), ensure_ascii=False) + "\n")
    (out_dir / "report.md").write_text(render_report(metrics, outcomes), encoding="utf-8")


def result_row(o: RetrievalOutcome) -> dict[str, Any]:
    """One line of results.jsonl: the item, where its first gold document ranked, the top 10."""
    return {
        **o.item.row_fields(),
        "gold": list(o.item.gold),
        "rank": first_relevant_rank(o.relevant),
        "ranked": [p[0] for p in o.ranked],
        "expansion": o.expansion,
        "latency_ms": round(o.latency_ms, 2),
    }


def _row(name: str, m: dict[str, float]) -> str:
    cols = [f"{m.get(f'hit@{k}', 0):.3f}" for k in KS] + [
        f"{m.get('mrr@10', 0):.3f}",
        f"{m.get('ndcg@10', 0):.3f}",
    ]
    return f"| {name} | {int(m.get('n', 0))} | " + " | ".join(cols) + " |"


def _answer_lines(metrics: dict[str, Any]) -> list[str]:
    """The answers and handoff table of a full run."""
    a, h, s = metrics["answers"], metrics["handoff"], metrics["selective"]
    al = metrics.get("answer_latency_ms", {})
    return [
        "## Answers and handoff",
        "",
        "| metric | value |",
        "|---|---|",
        f"| answer items answered | {a['answered']:.3f} |",
        f"| accuracy of answered (all facts + a gold citation) | {a['accuracy_of_answered']:.3f} |",
        f"| fact recall of answered | {a['fact_recall']:.3f} |",
        f"| citation precision / recall | {a['citation_precision']:.3f} / {a['citation_recall']:.3f} |",
        f"| answer items wrongly handed off | {a['wrongly_handed_off']:.3f} |",
        f"| handoff items handed off | {_share(h['handed_off'])} |",
        f"| handoff precision / recall / F1 | {h['precision']:.3f} / {_share(h['recall'])} / {_share(h['f1'])} |",
        f"| coverage at 90% / 95% accuracy | {s['coverage_at_90_accuracy']} / {s['coverage_at_95_accuracy']} |",
        f"| AURC | {s['aurc']} |",
        f"| first token p50 / p95 (ms) | {al.get('first_token_p50')} / {al.get('first_token_p95')} |",
        f"| full answer p50 / p95 (ms) | {al.get('total_p50')} / {al.get('total_p95')} |",
        f"| LLM answers only: first token p50 / p95 (ms) | {al.get('llm_first_token_p50')} / "
        f"{al.get('llm_first_token_p95')} |",
        f"| LLM answers only: full answer p50 / p95 (ms) | {al.get('llm_total_p50')} / {al.get('llm_total_p95')} |",
        f"| prompt tokens p50 | {al.get('prompt_tokens_p50')} |",
        "",
        "Handoff by reason: "
        + ", ".join(f"{r} {_share(v['handed_off'])} (n={v['n']})" for r, v in h["by_reason"].items()),
        "",
    ]


def render_report(metrics: dict[str, Any], outcomes: Sequence[RetrievalOutcome]) -> str:
    r = metrics["retrieval"]
    config = metrics.get("config", {})
    lines = [
        "# Retrieval report",
        "",
        f"Dataset `{config.get('dataset', '?')}`, index `{config.get('index', '?')}` "
        f"(version `{config.get('index_version', '?')}`), fusion `{config.get('fusion', '?')}`, "
        + (
            f"embedder adapter `{config['embedder_adapter']}`."
            if config.get("embedder_adapter")
            else "no embedder adapter."
        ),
        "",
        "| slice | n | hit@1 | hit@3 | hit@5 | hit@10 | MRR@10 | nDCG@10 |",
        "|---|---|---|---|---|---|---|---|",
        _row("all", r),
    ]
    lines += [_row(f"lang={k}", v) for k, v in r["by_lang"].items()]
    lines += [_row(f"category={k}", v) for k, v in r["by_category"].items()]
    # Among the other language's documents only, against the gold documents in that language.
    lines += [_row(f"across {pair}", v) for pair, v in r.get("cross_lingual", {}).items()]
    lat = metrics["latency_ms"]
    lines += ["", f"Search latency: p50 {lat['p50']} ms, p95 {lat['p95']} ms (warm, in-process).", ""]
    if metrics.get("gold_missing_from_index"):
        lines += ["Gold paths not in the index: " + ", ".join(metrics["gold_missing_from_index"]), ""]
    if "answers" in metrics:
        lines += _answer_lines(metrics)
    misses = [o for o in outcomes if not any(o.relevant[:5])]
    lines += [f"## Misses at 5 ({len(misses)})", ""]
    for o in misses:
        lines.append(f"- `{o.item.id}` ({o.item.lang}) {o.item.question}")
        lines.append(f"  - gold: {', '.join(o.item.gold)}")
        lines.append(f"  - got: {', '.join(p[0] for p in o.ranked[:5])}")
    return "\n".join(lines) + "\n"


def _share(value: float | None) -> str:
    """A share as the tables print it; "n/a" where the set has nothing to measure it on."""
    return "n/a" if value is None else f"{value:.3f}"
