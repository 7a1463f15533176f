"""The weekly report as one self-contained HTML page: headline figures, tables and inline SVG
charts (questions per day, handoffs by reason per day, hot questions). Stdlib only, no script,
no external resource; every string from the data goes through html.escape."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final

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


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _avg(value: float | int | None) -> str:
    return "–" if value is None else f"{value:.2f} / 5"


def _points(value: float | None) -> str:
    if value is None:
        return ""
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f' <span class="{css}">({value * 100:+.1f} pts vs previous)</span>'


def stacked_bars_svg(svg_id: str, title: str, rows: Mapping[str, Mapping[str, int]], series: Sequence[str]) -> str:
    """Vertical stacked bars, one per row key (a day), one colour per series, with a legend."""
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
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_e(key)} {_e(name)}: {n}</title></rect>'
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
            f'<text x="{width - 125}" y="{ly + 9}">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def group_bars_svg(svg_id: str, title: str, groups: Sequence[Group]) -> str:
    """Horizontal bars: each group's count this period, and a thin bar for the one before."""
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
            f"<title>this period: {g.count}</title></rect>"
            f'<rect x="{left}" y="{y + 14}" width="{g.previous / peak * plot_w:.1f}" height="5" fill="#bbb">'
            f"<title>previous period: {g.previous}</title></rect>"
            f'<text x="{left + g.count / peak * plot_w + 4:.1f}" y="{y + 11}">{g.count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _group_table(groups: Sequence[Group], *, gaps: bool = False) -> str:
    head = "<tr><th>question (most asked wording)</th><th>this period</th><th>previous</th><th>examples</th>"
    head += "<th>reasons</th><th>closest article</th></tr>" if gaps else "</tr>"
    rows = []
    for g in groups:
        examples = "<br>".join(_e(x) for x in g.examples[1:])
        cells = (
            f"<td>{_e(g.question)}</td><td class=n>{g.count}</td><td class=n>{g.previous}</td>"
            f'<td class="ex">{examples}</td>'
        )
        if gaps:
            reasons = ", ".join(f"{_e(k)} {v}" for k, v in g.reasons.items())
            article = g.closest_article
            found = (
                f"{_e(article['title'])}<br><code>{_e(article['path'])}</code> ({article['score']:.3f})"
                if article
                else "–"
            )
            cells += f"<td>{reasons}</td><td>{found}</td>"
        rows.append(f"<tr>{cells}</tr>")
    if not rows:
        return "<p>None in this period.</p>"
    return f"<table>{head}{''.join(rows)}</table>"


def render_html(report: Report, *, title: str = "kefu weekly report") -> str:
    r = report
    reasons = list(r.handoffs_by_reason)
    period = f"{r.start:%Y-%m-%d %H:%M} – {r.end:%Y-%m-%d %H:%M} UTC"
    cards = [
        ("questions", str(r.questions), f"previous: {r.previous['questions']}"),
        ("answered by the bot", str(r.answered), ""),
        ("handed off", str(r.handed_off), ""),
        ("resolution rate", _pct(r.resolution_rate), _points(r.resolution_rate_change)),
        ("👍 rate", _pct(r.helpful_rate), f"{r.feedback.get('helpful', 0)} 👍 / {r.feedback.get('not_helpful', 0)} 👎"),
        ("suggestions edited", _pct(r.edit_rate), f"discarded {_pct(r.discard_rate)}"),
        *(
            (
                f"CSAT ({who})",
                _avg(r.csat[who]["average"]),
                f"{r.csat[who]['count']} ratings, {_pct(r.csat[who]['satisfied_rate'])} 4-5",
            )
            for who in ("bot", "agent")
        ),
        ("latency p50 / p95", f"{r.latency_ms['p50'] or '–'} / {r.latency_ms['p95'] or '–'} ms", ""),
        ("handoffs", str(r.handoffs), f"resolved {r.handoffs_resolved}, open {r.handoffs_open}"),
    ]
    card_html = "".join(
        f'<div class="card">{_e(name)}<b>{_e(value)}</b><span class="meta">{note}</span></div>'
        for name, value, note in cards
    )
    reason_rows = "".join(f"<tr><td>{_e(k)}</td><td class=n>{v}</td></tr>" for k, v in r.handoffs_by_reason.items())
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
            f'<h1>{_e(title)}</h1><p class="meta">{_e(period)}; compared with the {_e(r.previous["start"][:10])} – '
            f"{_e(r.previous['end'][:10])} period of the same length. Questions grouped by {_e(r.grouping)}.</p>",
            f'<div class="cards">{card_html}</div>',
            "<h2>Questions per day</h2>",
            stacked_bars_svg("questions-by-day", "Questions per day", r.questions_by_day, ("answered", "handed_off")),
            "<h2>Handoffs by reason</h2>",
            stacked_bars_svg("handoffs-by-day", "Handoffs per day by reason", r.handoffs_by_day, reasons),
            f"<table><tr><th>reason</th><th>handoffs</th></tr>{reason_rows}</table>",
            "<h2>Hot questions</h2>",
            group_bars_svg("hot-questions", "Most asked (grey: previous period)", r.hot_questions),
            _group_table(r.hot_questions),
            "<h2>Rising</h2>",
            _group_table(r.rising),
            "<h2>Gaps: handed off for lack of content</h2>",
            _group_table(r.gaps, gaps=True),
            "</body></html>",
        ]
    )
