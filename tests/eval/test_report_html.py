from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from eval.report_html import render_html, write_html

XSS = "<script>alert(1)</script>"
VOID = {"meta", "br", "hr", "img", "input", "link"}


class TagBalance(HTMLParser):
    """Checks that every opened non-void tag is closed in order; self-closing SVG tags (<line/>) are fine."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: set[str] = set()
        self.doctype = False
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_balanced(page: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.doctype
    assert not parser.errors, parser.errors[:5]
    assert parser.stack == []
    return parser


def test_tag_checker_catches_unbalanced_markup() -> None:
    with pytest.raises(AssertionError):
        check_balanced("<!DOCTYPE html><html><body><div><p>x</div></body></html>")
    with pytest.raises(AssertionError):
        check_balanced("<!DOCTYPE html><html><body><table>")


def slice_(hit5: float) -> dict[str, Any]:
    return {"hit@1": 0.5, "hit@3": 0.6, "hit@5": hit5, "hit@10": 0.9, "mrr@10": 0.55, "ndcg@10": 0.6, "n": 10}


def answer_slice(acc: float | None) -> dict[str, Any]:
    return {
        "n": 5,
        "answered": 0.8,
        "accuracy_of_answered": acc,
        "fact_recall": 0.7,
        "citation_precision": 0.6,
        "citation_recall": 0.5,
    }


CURVE = [
    {"threshold": 0.95, "coverage": 0.25, "accuracy": 1.0},
    {"threshold": 0.81, "coverage": 0.5, "accuracy": 1.0},
    {"threshold": 0.62, "coverage": 0.75, "accuracy": 0.6667},
    {"threshold": 0.31, "coverage": 1.0, "accuracy": 0.5},
]


def retrieval_metrics() -> dict[str, Any]:
    return {
        "config": {
            "dataset": "eval/datasets/tp-cn.jsonl",
            "index": "tp-cn",
            "index_version": "20260101T000000Z-abc",
            "fusion": "rrf",
            "mode": "retrieval",
            "started_at": "2026-01-02T03:04:05Z",
        },
        "retrieval": {
            "hit@1": 0.6612,
            "hit@3": 0.8,
            "hit@5": 0.90909,
            "hit@10": 0.95,
            "mrr@10": 0.7571,
            "ndcg@10": 0.7589,
            "n": 165,
            "by_lang": {"zh": slice_(0.9), "en": slice_(0.8)},
            "by_category": {"转账": slice_(0.25), "security": slice_(0.75), "<b>bold</b>": slice_(1.0)},
        },
        "latency_ms": {"p50": 12.34, "p95": 40.0},
    }


def full_metrics() -> dict[str, Any]:
    m = retrieval_metrics()
    m["config"].update(mode="full", llm="qwen2.5:3b", calibration="var/calibration.json")
    m["answers"] = {
        "n": 150,
        "answered": 0.8667,
        "accuracy_of_answered": 0.3431,
        "accurate_share_of_all": 0.297,
        "fact_recall": 0.4751,
        "citation_precision": 0.61,
        "citation_recall": 0.72,
        "wrongly_handed_off": 0.1333,
        "groundedness": None,
        "by_mode": {"generated": 120, "extractive": 10, "handoff": 20},
        "handoff_reasons": {"low_confidence": 20},
        "by_lang": {"zh": answer_slice(0.4), "en": answer_slice(0.3)},
        "by_category": {"转账": answer_slice(0.125), "security": answer_slice(None)},
    }
    m["handoff"] = {
        "n": 15,
        "handed_off": 1.0,
        "precision": 0.4286,
        "recall": 1.0,
        "f1": 0.6,
        "by_reason": {
            "human_request": {"n": 5, "handed_off": 1.0, "reason_matched": 0.8, "precision": 1.0, "recall": 1.0},
        },
    }
    m["selective"] = {
        "n": 4,
        "aurc": 0.2083,
        "coverage_at_90_accuracy": 0.5,
        "threshold_at_90_accuracy": 0.81,
        "coverage_at_95_accuracy": 0.5,
        "threshold_at_95_accuracy": 0.81,
        "accuracy_at_coverage": {"0.2": 1.0, "0.4": 1.0, "0.6": 0.6667, "0.8": 0.5, "1.0": 0.5},
        "curve": CURVE,
    }
    m["calibration"] = {
        "ece": 0.1234,
        "threshold": 0.42,
        "bins": [
            {"lo": 0.0, "hi": 0.2, "n": 0, "mean_confidence": None, "accuracy": None},
            {"lo": 0.2, "hi": 0.4, "n": 3, "mean_confidence": 0.31, "accuracy": 0.3333},
            {"lo": 0.4, "hi": 0.6, "n": 0, "mean_confidence": 0.0, "accuracy": 0.0},
            {"lo": 0.6, "hi": 0.8, "n": 5, "mean_confidence": 0.7, "accuracy": 0.6},
            {"lo": 0.8, "hi": 1.0, "n": 7, "mean_confidence": 0.9, "accuracy": 1.0},
        ],
    }
    m["answer_latency_ms"] = {
        "first_token_p50": 812.5,
        "first_token_p95": 1500.25,
        "total_p50": 2400.0,
        "total_p95": None,
        "prompt_tokens_p50": 950.0,
        "completion_tokens_p50": None,
    }
    return m


def answer_row(i: int, confidence: float | None, **kw: Any) -> dict[str, Any]:
    row = {
        "id": f"q{i:03d}",
        "question": f"问题 {i}: 如何转账 USDT?",
        "lang": "zh",
        "category": "转账",
        "expected": "answer",
        "expected_reason": None,
        "action": "answer",
        "reason": None,
        "mode": "generated",
        "confidence": confidence,
        "accurate": False,
        "facts": ["TRC20", "手续费"],
        "facts_found": [True, False],
        "gold": ["docs/transfer.md"],
        "cited": ["docs/other.md"],
        "answer": f"answer {i}",
        "judged_text": f"judged answer {i}",
    }
    row.update(kw)
    return row


def rows() -> list[dict[str, Any]]:
    return [
        answer_row(1, 0.2),
        answer_row(2, 0.95, question=XSS),
        answer_row(3, 0.6),
        answer_row(4, 0.99, accurate=True),  # right: not a failure
        answer_row(5, 0.8),
        answer_row(6, 0.7, expected="handoff", expected_reason="human_request", question="我要人工客服"),
        answer_row(7, 0.1, action="handoff", reason="low_confidence", question="助记词丢了怎么办"),
    ]


def retrieval_rows() -> list[dict[str, Any]]:
    ranked = [f"docs/r{i}.md" for i in range(10)]
    return [
        {"id": "r1", "question": "found first", "lang": "en", "category": "security", "gold": ["docs/r0.md"],
         "rank": 1, "ranked": ranked, "expansion": []},
        {"id": "r2", "question": "没找到的问题", "lang": "zh", "category": "转账", "gold": ["docs/gold.md"],
         "rank": None, "ranked": ranked, "expansion": []},
        {"id": "r3", "question": "found at seven", "lang": "en", "category": "security", "gold": ["docs/r6.md"],
         "rank": 7, "ranked": ranked, "expansion": []},
        {"id": "r4", "question": "found at five", "lang": "en", "category": "security", "gold": ["docs/r4.md"],
         "rank": 5, "ranked": ranked, "expansion": []},
    ]  # fmt: skip


def section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    nxt = page.find("<h3 id=", start + 1)
    return page[start : nxt if nxt != -1 else len(page)]


def svg(page: str, svg_id: str) -> str:
    match = re.search(rf'<svg id="{svg_id}".*?</svg>', page, re.S)
    assert match, f"no svg {svg_id}"
    return match.group(0)


def headline_cell(page: str, label: str) -> str:
    head = page[page.index('id="headline"') : page.index('id="retrieval"')]
    match = re.search(rf"<tr><td>{re.escape(label)}</td><td>(.*?)</td></tr>", head)
    assert match, f"no headline row {label}"
    return match.group(1)


def test_full_page_is_balanced_html5_without_scripts_or_external_resources() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows())
    parser = check_balanced(page)
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert "script" not in parser.seen and "link" not in parser.seen
    assert not re.search(r"(src|href)=", page)
    assert "kefu eval report" in page
    for value in ("tp-cn", "qwen2.5:3b", "full", "2026-01-02T03:04:05Z", "rrf"):
        assert f"<code>{value}</code>" in page


def test_headline_numbers_are_formatted_to_three_decimals() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows())
    assert headline_cell(page, "retrieval hit@1") == "0.661"
    assert headline_cell(page, "retrieval hit@5") == "0.909"
    assert headline_cell(page, "retrieval MRR@10") == "0.757"
    assert headline_cell(page, "retrieval nDCG@10") == "0.759"
    assert headline_cell(page, "answered") == "0.867"
    assert headline_cell(page, "accuracy of answered (facts + gold citation)") == "0.343"
    assert headline_cell(page, "fact recall of answered") == "0.475"
    assert headline_cell(page, "citation precision / recall") == "0.610 / 0.720"
    assert headline_cell(page, "answer items wrongly handed off") == "0.133"
    assert headline_cell(page, "handoff precision / recall / F1") == "0.429 / 1.000 / 0.600"
    assert headline_cell(page, "AURC") == "0.208"
    assert headline_cell(page, "coverage at 90% accuracy (threshold)") == "0.500 (0.810)"
    assert headline_cell(page, "ECE") == "0.123"
    assert headline_cell(page, "calibration threshold in use") == "0.420"
    assert headline_cell(page, "first token p50 / p95 (ms)") == "812.500 / 1500.250"
    assert headline_cell(page, "search latency p50 / p95 (ms)") == "12.340 / 40.000"
    assert headline_cell(page, "answer items") == "150"


def test_none_values_render_as_dash() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows())
    assert headline_cell(page, "groundedness") == "–"
    assert headline_cell(page, "full answer p50 / p95 (ms)") == "2400.000 / –"
    assert headline_cell(page, "prompt / completion tokens p50") == "950.000 / –"
    assert "None" not in page and not re.search(r"\bnan\b", page, re.IGNORECASE)
    # a missing value in a slice table (accuracy of "security" is None) too
    answers = page[page.index('id="answers"') : page.index('id="handoff"')]
    assert re.search(r"<td>security</td><td>5</td><td>0\.800</td><td>–</td>", answers)


def test_judge_accuracy_is_shown_beside_fact_accuracy() -> None:
    m = full_metrics()
    m["judge"] = {"model": "qwen2.5:7b", "n": 120, "accuracy_of_answered": 0.5123, "agreement_with_facts": 0.8}
    page = render_html(m, rows(), retrieval_rows())
    assert headline_cell(page, "accuracy of answered: facts / judge (qwen2.5:7b, n=120)") == "0.343 / 0.512"
    assert headline_cell(page, "judge agreement with facts") == "0.800"
    plain = render_html(full_metrics(), rows())
    assert "judge" not in plain[: plain.index('id="retrieval"')]


def test_data_text_is_escaped_everywhere() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows())
    assert XSS not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "转账" in page  # Chinese stays readable (utf-8, not entities)


def test_risk_coverage_polyline_has_one_point_per_curve_entry_inside_viewbox() -> None:
    plot = svg(render_html(full_metrics(), rows()), "risk-coverage")
    width, height = map(float, re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', plot).groups())  # type: ignore[union-attr]
    polylines = re.findall(r'<polyline[^>]*points="([^"]+)"', plot)
    assert len(polylines) == 1
    points = [tuple(map(float, p.split(","))) for p in polylines[0].split()]
    assert len(points) == len(CURVE)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # coverage ascending, left to right
    assert ys[0] == ys[1] < ys[2] < ys[3]  # accuracy falls: y grows downwards
    # dashed reference lines at 0.9 and 0.95, above the 0.5 point
    refs = re.findall(r'<line class="ref"[^>]*y1="([\d.]+)"', plot)
    assert len(refs) == 2 and all(float(y) < ys[3] for y in refs)
    assert "coverage" in plot and "accuracy" in plot and "0.2" in plot and "1.0" in plot


def test_reliability_bars_skip_empty_bins_and_draw_diagonal() -> None:
    plot = svg(render_html(full_metrics(), rows()), "reliability")
    bars = re.findall(r'<rect class="bar"[^>]*>', plot)
    assert len(bars) == 3  # the two n == 0 bins are skipped
    heights = [float(re.search(r'height="([\d.]+)"', b).group(1)) for b in bars]  # type: ignore[union-attr]
    assert heights[0] < heights[1] < heights[2]  # accuracy 0.333 < 0.6 < 1.0
    assert 'class="diag"' in plot
    assert "ECE 0.123" in plot


def test_category_bars_cover_retrieval_and_answers() -> None:
    page = render_html(full_metrics(), rows())
    hit5 = svg(page, "bars-hit5")
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]*width="([\d.]+)"', hit5)]
    assert len(widths) == 3 and widths[0] == pytest.approx(widths[2] / 4, abs=0.2)  # 0.25 vs 1.0
    assert "转账" in hit5 and "&lt;b&gt;bold&lt;/b&gt;" in hit5
    acc = svg(page, "bars-accuracy")
    assert len(re.findall(r'<rect class="bar"', acc)) == 1  # "security" accuracy is None: no bar
    assert "0.125" in acc and "–" in acc


def test_retrieval_only_metrics_have_no_answer_sections() -> None:
    page = render_html(retrieval_metrics(), [], retrieval_rows())
    check_balanced(page)
    for absent in ('id="answers"', 'id="handoff"', 'id="risk-coverage"', 'id="reliability"', 'id="bars-accuracy"',
                   'id="confidently-wrong"', "accuracy of answered", "AURC", "ECE"):  # fmt: skip
        assert absent not in page
    assert 'id="bars-hit5"' in page and 'id="retrieval-misses"' in page
    assert headline_cell(page, "retrieval hit@5") == "0.909"
    assert "across languages" not in page  # no item had gold in the other language


def test_search_across_languages_has_its_own_table() -> None:
    m = retrieval_metrics()
    m["retrieval"]["cross_lingual"] = {"en->zh": slice_(0.97), "zh->en": slice_(0.93)}
    page = render_html(m, [], retrieval_rows())
    check_balanced(page)
    table = page.split("across languages", 1)[1].split("</table>", 1)[0]
    assert "en-&gt;zh" in table and "zh-&gt;en" in table and "0.930" in table


def test_older_runs_with_missing_keys_render() -> None:
    m = full_metrics()
    for key in ("calibration", "answer_latency_ms", "selective"):
        del m[key]
    del m["answers"]["by_lang"], m["answers"]["by_category"], m["handoff"]["by_reason"]
    page = render_html(m, [{"id": "x", "expected": "answer", "action": "answer"}])
    check_balanced(page)
    assert headline_cell(page, "ECE") == "–" and headline_cell(page, "AURC") == "–"
    assert 'id="risk-coverage"' not in page and 'id="reliability"' not in page


def test_confidently_wrong_is_sorted_by_confidence_and_capped() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows(), worst=2)
    wrong = section(page, "confidently-wrong")
    assert "Confidently wrong (4, showing 2)" in wrong
    assert wrong.count("<details>") == 2
    assert wrong.index("alert(1)") < wrong.index("问题 5")  # 0.95 before 0.8
    assert "问题 3" not in wrong and "问题 1" not in wrong and "问题 4" not in wrong
    full = section(render_html(full_metrics(), rows(), retrieval_rows()), "confidently-wrong")
    order = [full.index(s) for s in ("alert(1)", "问题 5", "问题 3", "问题 1")]
    assert order == sorted(order) and "问题 4" not in full
    # the case shows answer, cited and gold paths, facts with marks, action/reason
    assert "judged answer 5" in full and "docs/other.md" in full and "docs/transfer.md" in full
    assert '<li class="found">✓ TRC20</li>' in full and '<li class="missing">✗ 手续费</li>' in full


def test_other_failure_lists() -> None:
    page = render_html(full_metrics(), rows(), retrieval_rows())
    missed = section(page, "handoff-missed")
    assert "Handoff missed (1)" in missed and "我要人工客服" in missed and "human_request" in missed
    wrongly = section(page, "wrongly-handed-off")
    assert "Wrongly handed off (1)" in wrongly and "助记词丢了怎么办" in wrongly and "low_confidence" in wrongly
    misses = section(page, "retrieval-misses")
    assert "Retrieval misses at 5 (2)" in misses
    assert "没找到的问题" in misses and "found at seven" in misses
    assert "found first" not in misses and "found at five" not in misses
    assert "docs/r4.md" in misses and "docs/r5.md" not in misses  # top 5 only
    capped = section(render_html(full_metrics(), rows(), retrieval_rows(), worst=1), "retrieval-misses")
    assert capped.count("<details>") == 1


def test_none_confidence_sorts_last() -> None:
    r = [answer_row(1, None), answer_row(2, 0.3), answer_row(3, 0.9)]
    wrong = section(render_html(full_metrics(), r), "confidently-wrong")
    order = [wrong.index(f"问题 {i}") for i in (3, 2, 1)]
    assert order == sorted(order)


def test_write_html_is_atomic_utf8(tmp_path: Path) -> None:
    target = tmp_path / "run" / "report.html"
    write_html(target, full_metrics(), rows(), retrieval_rows())
    text = target.read_text(encoding="utf-8")
    assert text == render_html(full_metrics(), rows(), retrieval_rows())
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
    write_html(target, retrieval_metrics(), [])
    assert 'id="answers"' not in target.read_text(encoding="utf-8")
