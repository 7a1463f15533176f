"""The weekly report as one self-contained HTML page: headline figures, tables and inline SVG
charts (questions per day, handoffs by reason per day, hot questions). Stdlib only, no script,
no external resource; every string from the data goes through html.escape.

The page's own words (headings, table headers, notes, the handoff reasons) are Chinese or
English (``lang``); the data (the users' questions, article titles) is shown as it is."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final

from kefu.errors import InvalidFieldError
from kefu.vocab import LANGS, Lang
from service.analytics import Group, Report

PALETTE: Final = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
STYLE: Final = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;max-width:1100px}
h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}.meta{color:#555}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:130px}
.card b{display:block;font-size:22px}.up{color:#1a7f37}.down{color:#c33}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right}svg{background:#fff;border:1px solid #eee}svg text{font-size:11px;fill:#333}
.ex{color:#555;font-size:90%}
"""

#: The page's own words in each language; ``{name}`` is filled in.
TEXTS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {
        "title": "kefu 周报",
        "period": "{period}；对比此前同样长度的时段 {start} – {end}。问题按{grouping}分组。",
        "grouping_meaning": "语义",
        "grouping_text": "文本",
        "questions": "提问",
        "previous": "上期：{n}",
        "answered": "机器人解答",
        "handed_off": "转人工",
        "resolution_rate": "解决率",
        "points": "（较上期 {points} 个百分点）",
        "helpful_rate": "👍 比例",
        "votes": "{up} 👍 / {down} 👎",
        "edit_rate": "建议被修改",
        "discarded": "弃用 {rate}",
        "csat_bot": "满意度（机器人）",
        "csat_agent": "满意度（人工）",
        "ratings": "{n} 个评分，{rate} 为 4-5 分",
        "latency": "响应时间 p50 / p95",
        "handoffs": "转人工会话",
        "handoffs_note": "已解决 {resolved}，未解决 {open}",
        "per_day": "每日提问",
        "series_answered": "已解答",
        "series_handed_off": "转人工",
        "by_reason": "转人工原因",
        "by_reason_chart": "每日转人工（按原因）",
        "reason": "原因",
        "handoff_count": "转人工数",
        "hot": "热门问题",
        "hot_chart": "提问最多（灰色：上期）",
        "this_period": "本期：{n}",
        "previous_period": "上期：{n}",
        "rising": "上升最快",
        "gaps": "知识库缺口：因缺少内容而转人工",
        "col_question": "问题（最常见的问法）",
        "col_count": "本期",
        "col_previous": "上期",
        "col_examples": "其他问法",
        "col_reasons": "原因",
        "col_article": "最接近的文章",
        "none": "本时段没有。",
    },
    "en": {
        "title": "kefu weekly report",
        "period": "{period}; compared with the {start} – {end} period of the same length. Questions grouped by "
        "{grouping}.",
        "grouping_meaning": "meaning",
        "grouping_text": "text",
        "questions": "questions",
        "previous": "previous: {n}",
        "answered": "answered by the bot",
        "handed_off": "handed off",
        "resolution_rate": "resolution rate",
        "points": "({points} pts vs previous)",
        "helpful_rate": "👍 rate",
        "votes": "{up} 👍 / {down} 👎",
        "edit_rate": "suggestions edited",
        "discarded": "discarded {rate}",
        "csat_bot": "CSAT (bot)",
        "csat_agent": "CSAT (agent)",
        "ratings": "{n} ratings, {rate} 4-5",
        "latency": "latency p50 / p95",
        "handoffs": "handoffs",
        "handoffs_note": "resolved {resolved}, open {open}",
        "per_day": "Questions per day",
        "series_answered": "answered",
        "series_handed_off": "handed off",
        "by_reason": "Handoffs by reason",
        "by_reason_chart": "Handoffs per day by reason",
        "reason": "reason",
        "handoff_count": "handoffs",
        "hot": "Hot questions",
        "hot_chart": "Most asked (grey: previous period)",
        "this_period": "this period: {n}",
        "previous_period": "previous period: {n}",
        "rising": "Rising",
        "gaps": "Gaps: handed off for lack of content",
        "col_question": "question (most asked wording)",
        "col_count": "this period",
        "col_previous": "previous",
        "col_examples": "examples",
        "col_reasons": "reasons",
        "col_article": "closest article",
        "none": "None in this period.",
    },
}
#: Handoff reasons as the desk reads them: the agent console's words (service/web/console.js).
#: A reason not listed (from an older version) shows as its code.
REASONS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {
        "stolen_funds": "资金被盗", "secret_shared": "泄露了助记词或私钥", "compensation": "要求赔偿",
        "human_requested": "要求人工", "account_lookup": "查具体交易或账户", "out_of_scope": "超出服务范围",
        "low_confidence": "把握不足", "no_answer": "无法回答", "no_sources": "帮助中心没有资料",
        "unsafe_answer": "答案未通过安全检查", "llm_unavailable": "模型不可用", "timeout": "回答超时",
    },
    "en": {
        "stolen_funds": "stolen funds", "secret_shared": "seed phrase or key shared", "compensation": "compensation",
        "human_requested": "asked for a human", "account_lookup": "a specific transaction or account",
        "out_of_scope": "out of scope", "low_confidence": "low confidence", "no_answer": "no answer",
        "no_sources": "nothing in the help center", "unsafe_answer": "answer failed the safety check",
        "llm_unavailable": "LLM unavailable", "timeout": "timed out",
    },
}  # fmt: skip


class _Words:
    """The page's words in one language."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGS:
            raise InvalidFieldError(f"lang: {lang!r} is not one of {', '.join(LANGS)}", field="lang")
        self.lang: Lang = "zh" if lang == "zh" else "en"

    def __call__(self, name: str, **values: Any) -> str:
        return TEXTS[self.lang][name].format(**values)

    def reason(self, code: str) -> str:
        return REASONS[self.lang].get(code, code)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _avg(value: float | int | None) -> str:
    return "–" if value is None else f"{value:.2f} / 5"


def _points(value: float | None, words: _Words) -> str:
    if value is None:
        return ""
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f' <span class="{css}">{_e(words("points", points=f"{value * 100:+.1f}"))}</span>'


def stacked_bars_svg(
    svg_id: str,
    title: str,
    rows: Mapping[str, Mapping[str, int]],
    series: Sequence[str],
    labels: Mapping[str, str] | None = None,
) -> str:
    """Vertical stacked bars, one per row key (a day), one colour per series, with a legend
    naming each series by its label (its key when it has none)."""
    names = {name: (labels or {}).get(name, name) for name in series}
    width, height, left, bottom, top = 640, 260, 40, 40, 30
    keys = list(rows)
    peak = max((sum(rows[k].values()) for k in keys), default=0) or 1
    plot_w, plot_h = width - left - 150, height - bottom - top
    step = plot_w / max(len(keys), 1)
    parts = [
        f'<svg id="{_e(svg_id)}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="18" font-weight="bold">{_e(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, key in enumerate(keys):
        x = left + i * step + step * 0.15
        y = float(top + plot_h)
        for j, name in enumerate(series):
            n = rows[key].get(name, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_e(key)} {_e(names[name])}: {n}</title></rect>'
            )
        total = sum(rows[key].values())
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle">{total}</text>')
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_e(key[5:])}</text>'
        )
    for j, name in enumerate(series):
        ly = top + j * 16
        parts.append(
            f'<rect x="{width - 140}" y="{ly}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{width - 125}" y="{ly + 9}">{_e(names[name])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def group_bars_svg(svg_id: str, title: str, groups: Sequence[Group], words: _Words | None = None) -> str:
    """Horizontal bars: each group's count this period, and a thin bar for the one before."""
    words = words or _Words("en")
    width, row, left = 640, 26, 250
    height = 30 + row * max(len(groups), 1)
    peak = max((max(g.count, g.previous) for g in groups), default=0) or 1
    plot_w = width - left - 40
    parts = [
        f'<svg id="{_e(svg_id)}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="8" y="18" font-weight="bold">{_e(title)}</text>',
    ]
    for i, g in enumerate(groups):
        y = 28 + i * row
        label = g.question if len(g.question) <= 24 else g.question[:23] + "…"
        parts.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end"><title>{_e(g.question)}</title>{_e(label)}</text>'
        )
        parts.append(
            f'<rect x="{left}" y="{y}" width="{g.count / peak * plot_w:.1f}" height="12" fill="{PALETTE[0]}">'
            f"<title>{_e(words('this_period', n=g.count))}</title></rect>"
            f'<rect x="{left}" y="{y + 14}" width="{g.previous / peak * plot_w:.1f}" height="5" fill="#bbb">'
            f"<title>{_e(words('previous_period', n=g.previous))}</title></rect>"
            f'<text x="{left + g.count / peak * plot_w + 4:.1f}" y="{y + 11}">{g.count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _reason(code: str, words: _Words) -> str:
    """A handoff reason as the desk reads it, its code on hover (the code the JSON report has)."""
    return f'<span title="{_e(code)}">{_e(words.reason(code))}</span>'


def _group_table(groups: Sequence[Group], words: _Words, *, gaps: bool = False) -> str:
    columns = ["col_question", "col_count", "col_previous", "col_examples"]
    if gaps:
        columns += ["col_reasons", "col_article"]
    head = "<tr>" + "".join(f"<th>{_e(words(c))}</th>" for c in columns) + "</tr>"
    rows = []
    for g in groups:
        examples = "<br>".join(_e(x) for x in g.examples[1:])
        cells = (
            f"<td>{_e(g.question)}</td><td class=n>{g.count}</td><td class=n>{g.previous}</td>"
            f'<td class="ex">{examples}</td>'
        )
        if gaps:
            reasons = ", ".join(f"{_reason(k, words)} {v}" for k, v in g.reasons.items())
            article = g.closest_article
            found = (
                f"{_e(article['title'])}<br><code>{_e(article['path'])}</code> ({article['score']:.3f})"
                if article
                else "–"
            )
            cells += f"<td>{reasons}</td><td>{found}</td>"
        rows.append(f"<tr>{cells}</tr>")
    if not rows:
        return f"<p>{_e(words('none'))}</p>"
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(report: Report, *, lang: str = "en", title: str | None = None) -> str:
    """The report as one page whose own words are in ``lang`` (``zh`` or ``en``); ``title``
    replaces the page's heading."""
    words = _Words(lang)
    title = title or words("title")
    r = report
    reasons = list(r.handoffs_by_reason)
    period = f"{r.start:%Y-%m-%d %H:%M} – {r.end:%Y-%m-%d %H:%M} UTC"
    votes = words("votes", up=r.feedback.get("helpful", 0), down=r.feedback.get("not_helpful", 0))
    cards = [
        (words("questions"), str(r.questions), _e(words("previous", n=r.previous["questions"]))),
        (words("answered"), str(r.answered), ""),
        (words("handed_off"), str(r.handed_off), ""),
        (words("resolution_rate"), _pct(r.resolution_rate), _points(r.resolution_rate_change, words)),
        (words("helpful_rate"), _pct(r.helpful_rate), _e(votes)),
        (words("edit_rate"), _pct(r.edit_rate), _e(words("discarded", rate=_pct(r.discard_rate)))),
        *(
            (
                words(f"csat_{who}"),
                _avg(r.csat[who]["average"]),
                _e(words("ratings", n=r.csat[who]["count"], rate=_pct(r.csat[who]["satisfied_rate"]))),
            )
            for who in ("bot", "agent")
        ),
        (words("latency"), f"{r.latency_ms['p50'] or '–'} / {r.latency_ms['p95'] or '–'} ms", ""),
        (
            words("handoffs"),
            str(r.handoffs),
            _e(words("handoffs_note", resolved=r.handoffs_resolved, open=r.handoffs_open)),
        ),
    ]
    card_html = "".join(
        f'<div class="card">{_e(name)}<b>{_e(value)}</b><span class="meta">{note}</span></div>'
        for name, value, note in cards
    )
    reason_rows = "".join(
        f"<tr><td>{_reason(k, words)}</td><td class=n>{v}</td></tr>" for k, v in r.handoffs_by_reason.items()
    )
    meta = words(
        "period",
        period=period,
        start=r.previous["start"][:10],
        end=r.previous["end"][:10],
        grouping=words(f"grouping_{r.grouping}") if r.grouping in ("meaning", "text") else r.grouping,
    )
    series = {"answered": words("series_answered"), "handed_off": words("series_handed_off")}
    return "".join(
        [
            f'<!doctype html><html lang="{"zh-CN" if words.lang == "zh" else "en"}"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
            f'<h1>{_e(title)}</h1><p class="meta">{_e(meta)}</p>',
            f'<div class="cards">{card_html}</div>',
            f"<h2>{_e(words('per_day'))}</h2>",
            stacked_bars_svg("questions-by-day", words("per_day"), r.questions_by_day, tuple(series), series),
            f"<h2>{_e(words('by_reason'))}</h2>",
            stacked_bars_svg(
                "handoffs-by-day",
                words("by_reason_chart"),
                r.handoffs_by_day,
                reasons,
                {k: words.reason(k) for k in reasons},
            ),
            f"<table><tr><th>{_e(words('reason'))}</th><th>{_e(words('handoff_count'))}</th></tr>{reason_rows}</table>",
            f"<h2>{_e(words('hot'))}</h2>",
            group_bars_svg("hot-questions", words("hot_chart"), r.hot_questions, words),
            _group_table(r.hot_questions, words),
            f"<h2>{_e(words('rising'))}</h2>",
            _group_table(r.rising, words),
            f"<h2>{_e(words('gaps'))}</h2>",
            _group_table(r.gaps, words, gaps=True),
            "</body></html>",
        ]
    )
