"""The bundled demo corpus: counts, formats, links, and no near-copies."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent / "corpora" / "harbor"
CATEGORIES = {
    "wallet", "transfers", "fees", "approvals", "dapp-defi", "swap-bridge",
    "nft", "hardware-watch", "multisig", "security", "app", "support",
}  # fmt: skip
TICKET_FIELDS = {
    "id", "channel", "lang", "created", "resolved", "subject", "messages", "resolution",
    "tags", "category", "priority", "csat", "escalated", "articles",
}  # fmt: skip


def _articles() -> dict[Path, tuple[dict[str, object], str]]:
    out = {}
    for path in sorted((ROOT / "help").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("---\n"), f"{path}: no front matter"
        _, head, body = text.split("---\n", 2)
        out[path] = (yaml.safe_load(head), body)
    return out


def _tickets() -> list[dict[str, object]]:
    tickets = []
    for path in sorted((ROOT / "tickets").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                tickets.append(json.loads(line))
            except json.JSONDecodeError as exc:
                pytest.fail(f"{path}:{n}: {exc}")
    return tickets


ARTICLES = _articles()
TICKETS = _tickets()


def test_counts() -> None:
    langs = [fm["lang"] for fm, _ in ARTICLES.values()]
    assert len(ARTICLES) >= 60
    assert langs.count("en") >= 15
    assert langs.count("zh") > langs.count("en")
    assert len(TICKETS) >= 200
    ticket_langs = [t["lang"] for t in TICKETS]
    assert ticket_langs.count("zh") > ticket_langs.count("en") > 0


def test_every_article_has_valid_front_matter() -> None:
    ids = set()
    for path, (fm, body) in ARTICLES.items():
        rel = path.relative_to(ROOT / "help")
        lang, category, slug = rel.parts[0], rel.parts[1], rel.stem
        assert set(fm) == {"id", "title", "lang", "category", "updated", "url"}, path
        assert fm["lang"] == lang and fm["category"] == category, path
        assert category in CATEGORIES, path
        assert fm["id"] == f"hw-{lang}-{category}-{slug}", path
        assert fm["url"] == f"https://help.harborwallet.example/{lang}/{category}/{slug}", path
        assert str(fm["updated"]).startswith(("2025-", "2026-")), path
        assert body.lstrip().startswith(f"# {fm['title']}\n"), path
        ids.add(fm["id"])
    assert len(ids) == len(ARTICLES)


def test_relative_links_between_articles_resolve() -> None:
    for path, (_, body) in ARTICLES.items():
        for target in re.findall(r"\]\((?!https?:|mailto:)([^)#\s]+)", body):
            assert (path.parent / target).resolve().is_file(), f"{path}: broken link {target}"


def test_every_ticket_follows_the_schema() -> None:
    ids = set()
    for t in TICKETS:
        where = t.get("id")
        assert set(t) == TICKET_FIELDS, where
        assert re.fullmatch(r"T-\d{4}", str(t["id"])), where
        assert t["lang"] in {"zh", "en"} and t["category"] in CATEGORIES, where
        assert t["priority"] in {"low", "normal", "high", "urgent"}, where
        assert t["csat"] is None or t["csat"] in {1, 2, 3, 4, 5}, where
        assert isinstance(t["escalated"], bool) and t["subject"] and t["resolution"], where
        created = datetime.fromisoformat(str(t["created"]))
        resolved = datetime.fromisoformat(str(t["resolved"]))
        messages = t["messages"]
        assert isinstance(messages, list) and len(messages) >= 2, where
        assert messages[0]["role"] == "customer", where
        assert {m["role"] for m in messages} == {"customer", "agent"}, where
        times = [datetime.fromisoformat(m["at"]) for m in messages]
        assert created <= times[0] and times == sorted(times) and times[-1] <= resolved, where
        for article in t["articles"]:  # type: ignore[attr-defined]
            assert (ROOT / article).is_file(), f"{where}: no article {article}"
        ids.add(t["id"])
    assert len(ids) == len(TICKETS)


def _shingles(text: str, n: int = 4) -> set[str]:
    text = re.sub(r"\s+", " ", text.lower())
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def _max_jaccard(items: dict[str, set[str]]) -> tuple[float, str, str]:
    best = (0.0, "", "")
    for (a, sa), (b, sb) in itertools.combinations(items.items(), 2):
        j = len(sa & sb) / len(sa | sb)
        best = max(best, (j, a, b))
    return best


@pytest.mark.integration  # reads a whole corpus
def test_no_two_articles_are_near_copies() -> None:
    j, a, b = _max_jaccard({str(p): _shingles(body) for p, (_, body) in ARTICLES.items()})
    assert j < 0.5, f"{a} and {b} share {j:.0%} of their character 4-grams"


@pytest.mark.integration  # reads a whole corpus
def test_no_two_tickets_are_near_copies() -> None:
    texts = {
        str(t["id"]): _shingles(" ".join([str(t["subject"]), *(m["text"] for m in t["messages"])]))  # type: ignore[attr-defined]
        for t in TICKETS
    }
    j, a, b = _max_jaccard(texts)
    assert j < 0.5, f"{a} and {b} share {j:.0%} of their character 4-grams"


def test_planted_secrets_are_there_for_redaction_to_find() -> None:
    # The README promises these; ingest's redaction tests depend on them.
    def text(tid: str) -> str:
        t = next(t for t in TICKETS if t["id"] == tid)
        return " ".join(m["text"] for m in t["messages"])  # type: ignore[attr-defined]

    assert re.search(r"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])", text("T-1064"))
    assert re.search(r"[\w.+-]+@example\.(com|net|cn)", text("T-1031"))
    assert re.search(r"\b139-\d{4}-\d{4}\b", text("T-1081"))
    from mnemonic import Mnemonic

    words = set(Mnemonic("english").wordlist)
    longest = current = 0
    for w in re.findall(r"[a-z]+", text("T-1021")):
        current = current + 1 if w in words else 0
        longest = max(longest, current)
    assert longest >= 12
