"""The weekly report: its figures against straight SQL on a seeded SQLite file, question
grouping with a deterministic fake embedder (the real one is in a slow test), the HTML page
and ``kefu report``."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kefu.errors import BadInputError, InvalidFieldError
from kefu.vocab import LANGS
from kefu.vocab import REASONS as REASON_CODES
from service.analytics import GAP_REASONS, Report, build_report, group_questions, parse_since, percentile
from service.analytics_html import REASONS, TEXTS, render_html
from service.store import HandoffRequest, Store
from tests.fakes.embedder import FakeEmbedder

DATA = Path(__file__).parent / "data"
WEB = Path(__file__).resolve().parents[2] / "service" / "web"
END = datetime(2026, 11, 30, tzinfo=UTC)
START = END - timedelta(days=7)
#: Question wordings by topic: paraphrases of one topic must land in one group.
TOPICS = {
    "pending": ["我的转账一直在打包中怎么办？", "转账好久了还显示打包中", "My transfer is stuck pending"],
    "password": ["钱包密码忘了怎么办", "I forgot my wallet password"],
    "fees": ["矿工费为什么这么贵", "Why are network fees so high?"],
    "nft": ["NFT 怎么转出去", "How do I send an NFT?"],
    "staking": ["质押收益什么时候到账", "When do staking rewards arrive?"],
}
HANDOFF_REASONS = [*GAP_REASONS, "stolen_funds", "human_requested"]


def load_groups() -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / "question_groups.jsonl").read_text(encoding="utf-8").splitlines()]


class LabelledEmbedder(FakeEmbedder):
    """A deterministic fake with the embedder protocol: each known text sits near its group's
    direction (cosine ~0.99 to it), groups are orthogonal; unknown texts get a random direction."""

    def __init__(self, groups: dict[str, str], dim: int = 64) -> None:
        super().__init__(dim=dim, model_id="fake-labelled")
        self._groups = groups
        names = sorted(set(groups.values()))
        self._axes = {name: np.eye(dim, dtype=np.float32)[i] for i, name in enumerate(names)}

    def _vector(self, text: str) -> np.ndarray:
        # crc32, not hash(): str hashes change with every process (PYTHONHASHSEED).
        rng = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
        noise = rng.normal(size=self._dim).astype(np.float32)
        noise /= np.linalg.norm(noise)
        group = self._groups.get(text)
        v = self._axes[group] + 0.15 * noise if group else noise
        return v / np.linalg.norm(v)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed(store: Store, clock: Clock, *, days: int = 14, seed: int = 3) -> None:
    """Two weeks ending at END of questions, handoffs, resolutions, votes and suggestions."""
    rng = random.Random(seed)
    for day in range(days):
        for _ in range(rng.randint(6, 14)):
            clock.now = END - timedelta(days=days - day) + timedelta(minutes=rng.randrange(24 * 60))
            topic = rng.choice(list(TOPICS))
            question = rng.choice(TOPICS[topic])
            handoff = rng.random() < 0.35
            reason = rng.choice(HANDOFF_REASONS)
            saved = store.save_answer(
                question=question,
                answer="转接人工" if handoff else "请查看帮助中心 [1]",
                confidence=0.2 if handoff else 0.8,
                action="handoff" if handoff else "answer",
                reason=reason if handoff else "grounded",
                latency_ms=rng.randint(80, 4000),
                handoff=HandoffRequest(reason=reason) if handoff else None,
            )
            if not handoff and rng.random() < 0.5:
                store.record_feedback(saved.answer.id, rng.choice(["helpful", "helpful", "not_helpful"]))
            if not handoff and rng.random() < 0.3:
                store.save_csat(saved.conversation.id, rng.choice([2, 3, 4, 5, 5]))
            if saved.handoff is not None and rng.random() < 0.7:
                suggestion = store.save_answer(
                    question=question,
                    answer="建议回复",
                    confidence=0.5,
                    action="answer",
                    mode="suggest",
                    conversation_id=saved.conversation.id,
                )
                kind = rng.choice(["sent_as_is", "edited", "discarded"])
                store.record_feedback(suggestion.answer.id, kind, final_text="改过的回复" if kind == "edited" else None)
                if rng.random() < 0.8:
                    store.resolve_handoff(saved.handoff.id, final_reply="已处理", agent="agent-1")
                    if rng.random() < 0.5:
                        store.save_csat(saved.conversation.id, rng.choice([1, 3, 4, 5]), comment="谢谢")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    path = tmp_path_factory.mktemp("analytics") / "kefu.db"
    clock = Clock(END)
    store = Store(f"sqlite:///{path}", clock=clock)
    store.migrate()
    seed(store, clock)
    return store, path


def _ts(moment: datetime) -> str:
    # How SQLAlchemy stores a naive UTC datetime in SQLite: sorts and compares as text.
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def sql_figures(path: Path, start: datetime, end: datetime) -> dict[str, Any]:
    """The report's figures, counted again with plain SQL on the database file."""
    db = sqlite3.connect(path)
    span = (_ts(start), _ts(end))
    before = (_ts(start - (end - start)), _ts(start))

    def one(query: str, params: Sequence[Any] = span) -> Any:
        return db.execute(query, params).fetchone()[0]

    questions = "FROM answers WHERE mode = 'answer' AND created_at >= ? AND created_at < ?"
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for day, reason, n in db.execute(
        "SELECT substr(created_at, 1, 10), reason, count(*) FROM handoffs "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2",
        span,
    ):
        by_day[day][reason] = n
    feedback = dict(
        db.execute("SELECT kind, count(*) FROM feedback WHERE created_at >= ? AND created_at < ? GROUP BY kind", span)
    )
    latencies = [r[0] for r in db.execute(f"SELECT latency_ms {questions} ORDER BY latency_ms", span)]
    gap = db.execute(
        f"SELECT count(*) {questions} AND action = 'handoff' AND reason IN ({','.join('?' * len(GAP_REASONS))})",
        (*span, *GAP_REASONS),
    ).fetchone()[0]
    texts = Counter(r[0] for r in db.execute(f"SELECT question {questions}", span))
    csat = {
        who: [r[0] for r in db.execute(
            "SELECT score FROM csat_ratings WHERE handled_by = ? AND created_at >= ? AND created_at < ?", (who, *span)
        )]
        for who in ("bot", "agent")
    }  # fmt: skip
    figures = {
        "questions": one(f"SELECT count(*) {questions}"),
        "answered": one(f"SELECT count(*) {questions} AND action = 'answer'"),
        "handed_off": one(f"SELECT count(*) {questions} AND action = 'handoff'"),
        "previous_questions": one(f"SELECT count(*) {questions}", before),
        "previous_answered": one(f"SELECT count(*) {questions} AND action = 'answer'", before),
        "suggestions": one(
            "SELECT count(*) FROM answers WHERE mode = 'suggest' AND created_at >= ? AND created_at < ?"
        ),
        "handoffs": one("SELECT count(*) FROM handoffs WHERE created_at >= ? AND created_at < ?"),
        "resolved": one(
            "SELECT count(*) FROM handoffs WHERE status = 'resolved' AND created_at >= ? AND created_at < ?"
        ),
        "by_day": dict(by_day),
        "feedback": feedback,
        "latencies": latencies,
        "gap_questions": gap,
        "texts": texts,
        "csat": csat,
    }
    db.close()
    return figures


@pytest.mark.integration  # a seeded SQLite store
def test_the_report_equals_counts_made_with_sql(seeded: tuple[Store, Path]) -> None:
    store, path = seeded
    report = build_report(store, start=START, end=END, top=50)
    sql = sql_figures(path, START, END)
    assert sql["questions"] > 30 and sql["previous_questions"] > 30, "the seed must fill both weeks"
    assert (report.questions, report.answered, report.handed_off) == (
        sql["questions"],
        sql["answered"],
        sql["handed_off"],
    )
    assert report.resolution_rate == pytest.approx(sql["answered"] / sql["questions"])
    assert report.previous["questions"] == sql["previous_questions"]
    assert report.resolution_rate_change == pytest.approx(
        sql["answered"] / sql["questions"] - sql["previous_answered"] / sql["previous_questions"]
    )
    assert report.suggestions == sql["suggestions"]
    assert (report.handoffs, report.handoffs_resolved) == (sql["handoffs"], sql["resolved"])
    assert report.handoffs_by_day == sql["by_day"]
    assert report.feedback == sql["feedback"]
    fb = sql["feedback"]
    assert report.helpful_rate == pytest.approx(fb["helpful"] / (fb["helpful"] + fb.get("not_helpful", 0)))
    acted = sum(fb.get(k, 0) for k in ("sent_as_is", "edited", "discarded"))
    assert report.edit_rate == pytest.approx(fb["edited"] / acted)
    assert report.discard_rate == pytest.approx(fb["discarded"] / acted)
    n = len(sql["latencies"])
    # Nearest rank: the smallest value with at least p% of the values at or below it.
    assert report.latency_ms == {
        "p50": sql["latencies"][-(-n * 50 // 100) - 1],
        "p95": sql["latencies"][-(-n * 95 // 100) - 1],
        "count": n,
    }
    # Grouped by normalised text, the groups are the distinct wordings with their counts.
    assert report.grouping == "text"
    assert {g.question: g.count for g in report.hot_questions} == dict(sql["texts"])
    assert sum(g.count for g in report.gaps) == sql["gap_questions"]
    assert all(set(g.reasons) <= set(GAP_REASONS) for g in report.gaps)
    for who, scores in sql["csat"].items():
        assert scores, f"the seed must rate {who} conversations"
        assert report.csat[who] == {
            "count": len(scores),
            "average": round(sum(scores) / len(scores), 2),
            "satisfied_rate": pytest.approx(sum(s >= 4 for s in scores) / len(scores)),
        }


@pytest.mark.integration  # a seeded SQLite store
def test_hot_questions_grouped_by_meaning_are_the_topics(seeded: tuple[Store, Path]) -> None:
    store, path = seeded
    embedder = LabelledEmbedder({q: topic for topic, qs in TOPICS.items() for q in qs})
    report = build_report(store, start=START, end=END, embedder=embedder)  # type: ignore[arg-type]
    texts = sql_figures(path, START, END)["texts"]
    by_topic = Counter()
    for text, n in texts.items():
        by_topic[next(t for t, qs in TOPICS.items() if text in qs)] += n
    assert report.grouping == "meaning"
    assert sorted(g.count for g in report.hot_questions) == sorted(by_topic.values())
    for group in report.hot_questions:
        topic = next(t for t, qs in TOPICS.items() if group.question in qs)
        assert group.count == by_topic[topic]
        assert set(group.examples) <= set(TOPICS[topic])
    assert [g.rise for g in report.rising] == sorted((g.rise for g in report.rising), reverse=True)
    assert all(g.rise > 0 for g in report.rising)


def test_grouping_by_meaning_on_the_labelled_set_with_a_fake_embedder() -> None:
    rows = load_groups()
    embedder = LabelledEmbedder({r["question"]: r["group"] for r in rows})
    labels = group_questions([r["question"] for r in rows], embedder)  # type: ignore[arg-type]
    assert_grouping(rows, labels)


def assert_grouping(rows: list[dict[str, str]], labels: list[int]) -> None:
    by_group: dict[str, set[int]] = defaultdict(set)
    for row, label in zip(rows, labels, strict=True):
        by_group[row["group"]].add(label)
    split = {g: ls for g, ls in by_group.items() if len(ls) > 1}
    assert not split, f"paraphrases split apart: {split}"
    owners = Counter(next(iter(ls)) for ls in by_group.values())
    merged = [g for g, ls in by_group.items() if owners[next(iter(ls))] > 1]
    assert not merged, f"different questions grouped together: {merged}"


def test_grouping_by_text_ignores_width_case_and_punctuation() -> None:
    labels = group_questions(
        ["忘记密码？", "忘记密码?", " 忘记密码 ", "Forgot PASSWORD!", "forgot password", "忘记助记词"], None
    )
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4]
    assert len({labels[0], labels[3], labels[5]}) == 3


def test_periods_are_checked() -> None:
    assert parse_since("7d") == timedelta(days=7)
    assert parse_since("24h") == timedelta(hours=24)
    assert parse_since("2w") == timedelta(days=14)
    for bad in ("", "7", "0d", "7 days", "-1d"):
        with pytest.raises(BadInputError, match="--since"):
            parse_since(bad)
    with pytest.raises(BadInputError, match="before it starts"):
        build_report(None, start=END, end=START)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="timezone-aware"):
        build_report(None, start=START.replace(tzinfo=None), end=END)  # type: ignore[arg-type]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile(list(range(1, 101)), 50) == 50
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([1, 2, 3, 4], 50) == 2


@pytest.mark.integration  # a seeded SQLite store
def test_an_empty_period_reports_zeros_and_no_rates(seeded: tuple[Store, Path]) -> None:
    store, _ = seeded
    report = build_report(store, start=END + timedelta(days=30), end=END + timedelta(days=37))
    assert (report.questions, report.handoffs, report.resolution_rate, report.helpful_rate) == (0, 0, None, None)
    assert report.latency_ms == {"p50": None, "p95": None, "count": 0}
    assert report.hot_questions == [] and report.gaps == []
    assert "None in this period" in render_html(report)


def test_the_html_report_is_one_self_contained_page(tmp_path: Path) -> None:
    clock = Clock(END)
    store = Store(f"sqlite:///{tmp_path / 'kefu.db'}", clock=clock)
    store.migrate()
    seed(store, clock, seed=5)
    clock.now = END - timedelta(hours=1)
    store.save_answer(question="<script>alert(1)</script> 怎么办", answer="x", confidence=0.1, action="handoff",
                      reason="no_sources", handoff=HandoffRequest(reason="no_sources"))  # fmt: skip
    page = render_html(build_report(store, start=START, end=END))
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3
    assert "<script" not in page and "&lt;script&gt;" in page
    # Nothing to fetch: the only URL is the SVG namespace.
    assert {
        u for u in ("http://", "https://", "src=", "<link") if u in page.replace("http://www.w3.org/2000/svg", "")
    } == set()
    for reason in ("low_confidence", "no_sources", "stolen_funds"):
        assert reason in page
    assert "CSAT (bot)" in page and "CSAT (agent)" in page


class _Visible(HTMLParser):
    """The text nodes of a page, stripped (the chart tooltips among them, no attribute)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())


def visible(page: str) -> list[str]:
    """What a reader of ``page`` sees: its body's text (the head holds the title and style)."""
    parser = _Visible()
    parser.feed(page.split("<body>", 1)[1])
    return parser.texts


def week_report(tmp_path: Path) -> Report:
    clock = Clock(END)
    store = Store(f"sqlite:///{tmp_path / 'kefu.db'}", clock=clock)
    store.migrate()
    seed(store, clock, seed=5)
    return build_report(store, start=START, end=END)


def test_the_html_report_speaks_chinese_or_english_and_shows_the_data_as_it_is(tmp_path: Path) -> None:
    report = week_report(tmp_path)
    assert report.hot_questions and report.gaps and report.handoffs_by_reason  # every section has rows
    pages = {lang: render_html(report, lang=lang) for lang in LANGS}
    seen = {lang: visible(page) for lang, page in pages.items()}
    assert render_html(report) == pages["en"]  # English unless asked
    assert pages["zh"].startswith('<!doctype html><html lang="zh-CN">')

    # The page's own words: each in the language asked for, never in the other one.
    shown = 0
    for key in TEXTS["en"]:
        zh, en = TEXTS["zh"][key], TEXTS["en"][key]
        if "{" in zh:
            continue  # figures filled in: checked below through a heading's neighbours
        assert (zh in seen["zh"]) == (en in seen["en"]), key
        assert en not in seen["zh"] and zh not in seen["en"], key
        shown += zh in seen["zh"]
    assert shown >= 25
    for code in report.handoffs_by_reason:
        assert REASONS["zh"][code] in " ".join(seen["zh"]) and REASONS["en"][code] in " ".join(seen["en"])
        assert f'title="{code}"' in pages["zh"]  # the code the JSON report has, on hover
    assert "较上期" in pages["zh"] and "pts vs previous" in pages["en"]

    # The data stays as it is, in both.
    for group in report.hot_questions:
        for page in seen.values():
            assert group.question in page
    with pytest.raises(InvalidFieldError, match="lang: 'fr'"):
        render_html(report, lang="fr")


def test_the_reports_words_are_complete_and_its_reasons_are_the_consoles() -> None:
    assert set(TEXTS["zh"]) == set(TEXTS["en"])
    for lang in LANGS:
        assert set(REASONS[lang]) == set(REASON_CODES)
    # The console labels the same codes; the report uses its words (service/web/console.js).
    script = (WEB / "console.js").read_text(encoding="utf-8")
    labels = script.split("var LABELS = {", 1)[1].split("\n  };", 1)[0]
    zh, en = labels.split("\n    en: {", 1)
    for lang, table in (("zh", zh), ("en", en)):
        reasons = table.split("reason: {", 1)[1].split("}", 1)[0]
        console = dict(re.findall(r'(\w+): "([^"]*)"', reasons))
        assert {code: console[code] for code in REASON_CODES} == REASONS[lang]


@pytest.mark.integration  # a seeded SQLite store
def test_kefu_report_prints_json_and_writes_html(
    seeded: tuple[Store, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kefu.cli import main

    _, path = seeded
    monkeypatch.setenv("KEFU_DATA_DIR", str(path.parent))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    html = tmp_path / "week.html"
    code = main(["report", "--since", "7d", "--until", END.isoformat(), "--group", "text", "--no-articles",
                 "--json", "--html", str(html)])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    sql = sql_figures(path, START, END)
    assert (printed["questions"], printed["answered"], printed["handoffs"]) == (
        sql["questions"],
        sql["answered"],
        sql["handoffs"],
    )
    assert printed["start"] == START.isoformat()
    assert html.read_text(encoding="utf-8").count("<svg") == 3
    # The page in Chinese for the desk; what the command prints stays English.
    code = main(["report", "--since", "7d", "--until", END.isoformat(), "--group", "text", "--no-articles",
                 "--html", str(html), "--lang", "zh"])  # fmt: skip
    assert code == 0 and "questions:" in capsys.readouterr().out
    assert f"<h1>{TEXTS['zh']['title']}</h1>" in html.read_text(encoding="utf-8")
    assert main(["report", "--since", "seven days", "--no-articles", "--group", "text"]) == 1
    assert "--since 'seven days'" in capsys.readouterr().err
