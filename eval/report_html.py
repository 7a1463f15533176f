"""One self-contained HTML page for an eval run: headline numbers, per-slice tables, hand-drawn SVG plots
(risk-coverage, reliability, per-category bars) and the worst failures. Stdlib only, no JavaScript, no
external resources; every string that comes from data goes through html.escape."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

DASH = "–"
RETRIEVAL_KEYS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10")
ANSWER_KEYS = ("answered", "accuracy_of_answered", "fact_recall", "citation_precision", "citation_recall")
TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.meta{color:#555}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}code{font-size:90%}.plots{display:flex;flex-wrap:wrap;gap:16px}
svg{background:#fff;border:1px solid #eee}svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:bold}
svg .axis{stroke:#333}svg .grid{stroke:#eee}svg .ref{stroke:#c33;stroke-dasharray:5,4}
svg .diag{stroke:#999;stroke-dasharray:3,3}
svg .curve{fill:none;stroke:#1f6fb4;stroke-width:2}svg .bar{fill:#5b9bd5}
details{border:1px solid #ddd;border-radius:4px;margin:6px 0;padding:4px 8px}summary{cursor:pointer}
.found{color:#1a7f37}.missing{color:#c33}.answer{white-space:pre-wrap;background:#fafafa;padding:6px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _real(value: Any) -> float | None:
    """A finite float, or None for None, NaN, infinities, booleans and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _num(value: Any) -> str:
    f = _real(value)
    return DASH if f is None else f"{f:.3f}"


def _plain(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict | list) else str(value)


def _int(value: Any) -> str:
    f = _real(value)
    return DASH if f is None else str(round(f))


def _table(headers: Sequence[str], body: Iterable[Sequence[str]]) -> str:
    """Headers are escaped here; body cells must already be safe HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _slices(
    title: str, total: Mapping[str, Any] | None, parts: Mapping[str, Any], keys: Sequence[str], labels: Sequence[str]
) -> str:
    rows: list[list[str]] = []
    if total is not None:
        rows.append(["<b>all</b>", _int(total.get("n")), *(_num(total.get(k)) for k in keys)])
    for name, part in parts.items():
        m = part or {}
        rows.append([_e(name), _int(m.get("n")), *(_num(m.get(k)) for k in keys)])
    return f"<h3>{_e(title)}</h3>" + _table(["slice", "n", *labels], rows)


# --- SVG --------------------------------------------------------------------------------------------------------

W, H, ML, MR, MT, MB = 460, 320, 56, 16, 36, 48
PW, PH = W - ML - MR, H - MT - MB


def _px(x: float) -> float:
    return ML + min(max(x, 0.0), 1.0) * PW


def _py(y: float) -> float:
    return MT + (1.0 - min(max(y, 0.0), 1.0)) * PH


def _c(v: float) -> str:
    return f"{v:.1f}"


def _axes(svg_id: str, title: str, xlabel: str, ylabel: str, body: str) -> str:
    parts = [
        f'<svg id="{_e(svg_id)}" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text class="title" x="{W / 2}" y="20" text-anchor="middle">{_e(title)}</text>',
    ]
    for t in TICKS:
        x, y = _c(_px(t)), _c(_py(t))
        parts += [
            f'<line class="grid" x1="{x}" y1="{MT}" x2="{x}" y2="{MT + PH}"/>',
            f'<line class="grid" x1="{ML}" y1="{y}" x2="{ML + PW}" y2="{y}"/>',
            f'<line class="axis" x1="{x}" y1="{MT + PH}" x2="{x}" y2="{MT + PH + 5}"/>',
            f'<text x="{x}" y="{MT + PH + 17}" text-anchor="middle">{t:.1f}</text>',
            f'<line class="axis" x1="{ML - 5}" y1="{y}" x2="{ML}" y2="{y}"/>',
            f'<text x="{ML - 8}" y="{_c(_py(t) + 4)}" text-anchor="end">{t:.1f}</text>',
        ]
    parts += [
        f'<line class="axis" x1="{ML}" y1="{MT + PH}" x2="{ML + PW}" y2="{MT + PH}"/>',
        f'<line class="axis" x1="{ML}" y1="{MT}" x2="{ML}" y2="{MT + PH}"/>',
        f'<text x="{ML + PW / 2}" y="{H - 8}" text-anchor="middle">{_e(xlabel)}</text>',
        f'<text x="14" y="{MT + PH / 2}" text-anchor="middle" transform="rotate(-90 14 {MT + PH / 2})">'
        f"{_e(ylabel)}</text>",
        body,
        "</svg>",
    ]
    return "".join(parts)


def risk_coverage_svg(selective: Mapping[str, Any]) -> str:
    pts = [(_real(p.get("coverage")), _real(p.get("accuracy"))) for p in selective.get("curve") or []]
    xy = [(x, y) for x, y in pts if x is not None and y is not None]
    body = []
    for level in (0.9, 0.95):
        y = _c(_py(level))
        body.append(f'<line class="ref" x1="{ML}" y1="{y}" x2="{ML + PW}" y2="{y}"/>')
        body.append(f'<text x="{ML + PW - 4}" y="{_c(_py(level) - 3)}" text-anchor="end">{level:g}</text>')
    if xy:
        points = " ".join(f"{_c(_px(x))},{_c(_py(y))}" for x, y in xy)
        body.append(f'<polyline class="curve" points="{points}"/>')
    title = f"Risk-coverage (AURC {_num(selective.get('aurc'))})"
    return _axes("risk-coverage", title, "coverage", "accuracy of answered", "".join(body))


def reliability_svg(calibration: Mapping[str, Any]) -> str:
    body = [f'<line class="diag" x1="{_c(_px(0))}" y1="{_c(_py(0))}" x2="{_c(_px(1))}" y2="{_c(_py(1))}"/>']
    for b in calibration.get("bins") or []:
        n, conf, acc = _real(b.get("n")), _real(b.get("mean_confidence")), _real(b.get("accuracy"))
        if not n or conf is None or acc is None:
            continue
        lo, hi = _real(b.get("lo")), _real(b.get("hi"))
        width = max((hi - lo) if lo is not None and hi is not None else 0.1, 0.02) * PW * 0.8
        x = min(max(_px(conf) - width / 2, ML), ML + PW - width)
        y = _py(acc)
        body.append(
            f'<rect class="bar" x="{_c(x)}" y="{_c(y)}" width="{_c(width)}" height="{_c(MT + PH - y)}">'
            f"<title>n={_int(n)} confidence {_num(conf)} accuracy {_num(acc)}</title></rect>"
        )
    title = f"Reliability (ECE {_num(calibration.get('ece'))})"
    return _axes("reliability", title, "mean confidence", "accuracy", "".join(body))


def category_bars_svg(svg_id: str, title: str, xlabel: str, values: Mapping[str, Any]) -> str:
    items = [(str(k), _real(v)) for k, v in values.items()]
    lw, step, bh = 170, 24, 16
    pw = W + 100 - lw - MR
    h = MT + step * max(len(items), 1) + MB
    parts = [
        f'<svg id="{_e(svg_id)}" xmlns="http://www.w3.org/2000/svg" width="{W + 100}" height="{h}" '
        f'viewBox="0 0 {W + 100} {h}" role="img" aria-label="{_e(title)}">',
        f'<text class="title" x="{(W + 100) / 2}" y="20" text-anchor="middle">{_e(title)}</text>',
    ]
    bottom = MT + step * max(len(items), 1)
    for t in TICKS:
        x = _c(lw + t * pw)
        parts += [
            f'<line class="grid" x1="{x}" y1="{MT}" x2="{x}" y2="{bottom}"/>',
            f'<line class="axis" x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 5}"/>',
            f'<text x="{x}" y="{bottom + 17}" text-anchor="middle">{t:.1f}</text>',
        ]
    for i, (name, v) in enumerate(items):
        y = MT + i * step + (step - bh) / 2
        label = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<text x="{lw - 6}" y="{_c(y + bh - 4)}" text-anchor="end">{_e(label)}<title>{_e(name)}</title></text>'
        )
        if v is not None:
            width = min(max(v, 0.0), 1.0) * pw
            parts.append(f'<rect class="bar" x="{lw}" y="{_c(y)}" width="{_c(width)}" height="{bh}"/>')
        parts.append(
            f'<text x="{_c(lw + (min(max(v or 0.0, 0.0), 1.0)) * pw + 4)}" y="{_c(y + bh - 4)}">{_num(v)}</text>'
        )
    parts += [
        f'<line class="axis" x1="{lw}" y1="{bottom}" x2="{lw + pw}" y2="{bottom}"/>',
        f'<line class="axis" x1="{lw}" y1="{MT}" x2="{lw}" y2="{bottom}"/>',
        f'<text x="{lw + pw / 2}" y="{h - 8}" text-anchor="middle">{_e(xlabel)}</text>',
        "</svg>",
    ]
    return "".join(parts)


# --- failures ---------------------------------------------------------------------------------------------------


def _paths(paths: Any) -> str:
    items = [p for p in (paths or []) if p is not None]
    return ", ".join(f"<code>{_e(p)}</code>" for p in items) if items else DASH


def _by_confidence(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> float:
        c = _real(r.get("confidence"))
        return -c if c is not None else math.inf

    return sorted(rows, key=key)


def _case(r: Mapping[str, Any]) -> str:
    facts = list(r.get("facts") or [])
    found = list(r.get("facts_found") or [])
    marks = "".join(
        f'<li class="found">✓ {_e(f)}</li>' if i < len(found) and found[i] else f'<li class="missing">✗ {_e(f)}</li>'
        for i, f in enumerate(facts)
    )
    text = r.get("judged_text") or r.get("answer") or ""
    judge = "" if r.get("judge") is None else f" · judge {'accurate' if r.get('judge') else 'inaccurate'}"
    return (
        f"<details><summary><b>{_num(r.get('confidence'))}</b> <code>{_e(r.get('id', ''))}</code> "
        f"[{_e(r.get('lang', ''))}/{_e(r.get('category', ''))}] {_e(r.get('question', ''))}</summary>"
        f"<p>action <b>{_e(r.get('action') or DASH)}</b> (reason {_e(r.get('reason') or DASH)}, "
        f"mode {_e(r.get('mode') or DASH)}); expected <b>{_e(r.get('expected') or DASH)}</b> "
        f"(reason {_e(r.get('expected_reason') or DASH)}); confidence {_num(r.get('confidence'))}{judge}</p>"
        f'<div class="answer">{_e(text) if text else DASH}</div>'
        f"<p>cited: {_paths(r.get('cited'))}</p><p>gold: {_paths(r.get('gold'))}</p>"
        + (f"<ul>{marks}</ul>" if marks else "<p>facts: –</p>")
        + "</details>"
    )


def _retrieval_case(r: Mapping[str, Any]) -> str:
    rank = r.get("rank")
    return (
        f"<details><summary>rank {_e(rank if rank is not None else DASH)} <code>{_e(r.get('id', ''))}</code> "
        f"[{_e(r.get('lang', ''))}/{_e(r.get('category', ''))}] {_e(r.get('question', ''))}</summary>"
        f"<p>gold: {_paths(r.get('gold'))}</p><p>top 5:</p><ol>"
        + "".join(f"<li><code>{_e(p)}</code></li>" for p in list(r.get("ranked") or [])[:5])
        + "</ol></details>"
    )


def _failure_section(
    title: str, section_id: str, cases: Sequence[dict[str, Any]], worst: int, render: Callable[[Any], str]
) -> str:
    shown = cases[: max(worst, 0)]
    count = f"{len(cases)}, showing {len(shown)}" if len(shown) < len(cases) else str(len(cases))
    head = f'<h3 id="{section_id}">{_e(title)} ({count})</h3>'
    return head + ("".join(render(c) for c in shown) if shown else "<p>none</p>")


# --- page -------------------------------------------------------------------------------------------------------


def _pair(*values: Any) -> str:
    return " / ".join(_num(v) for v in values)


def _headline(metrics: Mapping[str, Any]) -> str:
    r = metrics.get("retrieval") or {}
    lat = metrics.get("latency_ms") or {}
    rows = [
        ("retrieval hit@1", _num(r.get("hit@1"))),
        ("retrieval hit@5", _num(r.get("hit@5"))),
        ("retrieval MRR@10", _num(r.get("mrr@10"))),
        ("retrieval nDCG@10", _num(r.get("ndcg@10"))),
        ("retrieval items", _int(r.get("n"))),
        ("search latency p50 / p95 (ms)", _pair(lat.get("p50"), lat.get("p95"))),
    ]
    a = metrics.get("answers")
    if a is not None:
        h = metrics.get("handoff") or {}
        s = metrics.get("selective") or {}
        cal = metrics.get("calibration") or {}
        al = metrics.get("answer_latency_ms") or {}
        judge = metrics.get("judge")
        acc_label, acc = "accuracy of answered (facts + gold citation)", _num(a.get("accuracy_of_answered"))
        if judge is not None:
            acc_label = f"accuracy of answered: facts / judge ({judge.get('model') or DASH}, n={_int(judge.get('n'))})"
            acc = _pair(a.get("accuracy_of_answered"), judge.get("accuracy_of_answered"))
        rows += [
            ("answer items", _int(a.get("n"))),
            ("answered", _num(a.get("answered"))),
            (acc_label, acc),
        ]
        if judge is not None:
            rows.append(("judge agreement with facts", _num(judge.get("agreement_with_facts"))))
        rows += [
            ("accurate share of all answer items", _num(a.get("accurate_share_of_all"))),
            ("fact recall of answered", _num(a.get("fact_recall"))),
            ("citation precision / recall", _pair(a.get("citation_precision"), a.get("citation_recall"))),
            ("groundedness", _num(a.get("groundedness"))),
            ("answer items wrongly handed off", _num(a.get("wrongly_handed_off"))),
            ("handoff items handed off", _num(h.get("handed_off"))),
            ("handoff precision / recall / F1", _pair(h.get("precision"), h.get("recall"), h.get("f1"))),
            ("AURC", _num(s.get("aurc"))),
            (
                "coverage at 90% accuracy (threshold)",
                f"{_num(s.get('coverage_at_90_accuracy'))} ({_num(s.get('threshold_at_90_accuracy'))})",
            ),
            (
                "coverage at 95% accuracy (threshold)",
                f"{_num(s.get('coverage_at_95_accuracy'))} ({_num(s.get('threshold_at_95_accuracy'))})",
            ),
            ("ECE", _num(cal.get("ece"))),
            ("calibration threshold in use", _num(cal.get("threshold"))),
            ("first token p50 / p95 (ms)", _pair(al.get("first_token_p50"), al.get("first_token_p95"))),
            ("full answer p50 / p95 (ms)", _pair(al.get("total_p50"), al.get("total_p95"))),
            (
                "LLM answers only: first token p50 / p95 (ms)",
                _pair(al.get("llm_first_token_p50"), al.get("llm_first_token_p95")),
            ),
            ("LLM answers only: full answer p50 / p95 (ms)", _pair(al.get("llm_total_p50"), al.get("llm_total_p95"))),
            ("prompt / completion tokens p50", _pair(al.get("prompt_tokens_p50"), al.get("completion_tokens_p50"))),
        ]
    return '<h2 id="headline">Headline</h2>' + _table(["metric", "value"], [(_e(k), v) for k, v in rows])


def render_html(
    metrics: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    retrieval_rows: Sequence[dict[str, Any]] = (),
    *,
    worst: int = 25,
) -> str:
    r = metrics.get("retrieval") or {}
    a = metrics.get("answers")
    out = [
        *_head(metrics.get("config") or {}),
        _headline(metrics),
        *_retrieval_sections(r),
        *(_answer_sections(metrics, a) if a is not None else []),
        '<h2 id="plots">Plots</h2><div class="plots">' + "".join(_plots(metrics, r, a)) + "</div>",
        '<h2 id="failures">Worst failures</h2>',
        *(_answer_failures(rows, worst) if a is not None else []),
    ]
    misses = [x for x in retrieval_rows if (rank := _real(x.get("rank"))) is None or rank > 5]
    out.append(_failure_section("Retrieval misses at 5", "retrieval-misses", misses, worst, _retrieval_case))
    out.append("</body></html>\n")
    return "\n".join(out)


def _head(config: dict[str, Any]) -> list[str]:
    """The document's head and title line, with the run's configuration."""
    meta = " · ".join(
        f"{_e(label)} <code>{_e(_plain(config[key]))}</code>"
        for key, label in (
            ("dataset", "dataset"),
            ("index", "index"),
            ("index_version", "version"),
            ("fusion", "fusion"),
            ("mode", "mode"),
            ("llm", "llm"),
            ("calibration", "calibration"),
            ("started_at", "started"),
        )
        if config.get(key) is not None
    )
    return [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>kefu eval report{(' – ' + _e(config['dataset'])) if config.get('dataset') else ''}</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<h1>kefu eval report</h1><p class="meta">{meta or DASH}</p>',
    ]


def _retrieval_sections(r: dict[str, Any]) -> list[str]:
    out = [
        '<h2 id="retrieval">Retrieval</h2>',
        _slices("by language", r, r.get("by_lang") or {}, RETRIEVAL_KEYS, RETRIEVAL_KEYS),
        _slices("by category", None, r.get("by_category") or {}, RETRIEVAL_KEYS, RETRIEVAL_KEYS),
    ]
    if r.get("cross_lingual"):
        out.append(
            _slices(
                "across languages (among the other language's documents only)",
                None,
                r["cross_lingual"],
                RETRIEVAL_KEYS,
                RETRIEVAL_KEYS,
            )
        )
    return out


def _answer_sections(metrics: dict[str, Any], a: dict[str, Any]) -> list[str]:
    """Answers by slice, their modes and handoff reasons, and the handoff decisions."""
    labels = ("answered", "accuracy of answered", "fact recall", "citation precision", "citation recall")
    out = [
        '<h2 id="answers">Answers</h2>',
        _slices("by language", a, a.get("by_lang") or {}, ANSWER_KEYS, labels),
        _slices("by category", None, a.get("by_category") or {}, ANSWER_KEYS, labels),
    ]
    counts = [
        ("answer modes", a.get("by_mode") or {}),
        ("handoff reasons on answer items", a.get("handoff_reasons") or {}),
    ]
    for title, c in counts:
        if c:
            out.append(
                f"<h3>{_e(title)}</h3>"
                + _table([title.split(" ")[0], "count"], [(_e(k), _int(v)) for k, v in c.items()])
            )
    h = metrics.get("handoff") or {}
    hk = ("handed_off", "reason_matched", "precision", "recall", "f1")
    return [*out, '<h2 id="handoff">Handoff</h2>', _slices("by reason", h, h.get("by_reason") or {}, hk, hk)]


def _plots(metrics: dict[str, Any], r: dict[str, Any], a: dict[str, Any] | None) -> list[str]:
    plots = []
    if a is not None:
        if metrics.get("selective"):
            plots.append(risk_coverage_svg(metrics["selective"]))
        if metrics.get("calibration"):
            plots.append(reliability_svg(metrics["calibration"]))
    if r.get("by_category"):
        hit5 = {k: (v or {}).get("hit@5") for k, v in r["by_category"].items()}
        plots.append(category_bars_svg("bars-hit5", "retrieval hit@5 per category", "hit@5", hit5))
    if a is not None and a.get("by_category"):
        acc = {k: (v or {}).get("accuracy_of_answered") for k, v in a["by_category"].items()}
        plots.append(category_bars_svg("bars-accuracy", "accuracy of answered per category", "accuracy", acc))
    return plots


def _answer_failures(rows: Sequence[dict[str, Any]], worst: int) -> list[str]:
    """The worst answers: wrong ones given with confidence, missed handoffs, needless handoffs."""
    wrong = [x for x in rows if x.get("expected") == "answer" and x.get("action") == "answer" and not x.get("accurate")]
    missed = [x for x in rows if x.get("expected") == "handoff" and x.get("action") == "answer"]
    wrongly = [x for x in rows if x.get("expected") == "answer" and x.get("action") == "handoff"]
    return [
        _failure_section("Confidently wrong", "confidently-wrong", _by_confidence(wrong), worst, _case),
        _failure_section("Handoff missed", "handoff-missed", _by_confidence(missed), worst, _case),
        _failure_section("Wrongly handed off", "wrongly-handed-off", _by_confidence(wrongly), worst, _case),
    ]


def write_html(
    path: Path,
    metrics: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    retrieval_rows: Sequence[dict[str, Any]] = (),
    *,
    worst: int = 25,
) -> None:
    """Write the page atomically: a temporary file beside the target, then a rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(metrics, rows, retrieval_rows, worst=worst), encoding="utf-8")
    tmp.replace(path)
