"""FAQ drafts (`kefu learn`): resolved handoffs' replies and edited suggestions become drafts,
grouped by meaning (a deterministic fake embedder), never with a secret in them; approved, a
draft is a curated answer the next question gets; rejected, it never shows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kefu.cli import main
from service.curated import CuratedMatcher
from service.learn import learn
from service.store import HandoffRequest, Store
from tests.service.test_analytics import Clock, LabelledEmbedder
from tests.service.test_store import MNEMONIC

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 30, tzinfo=UTC)
START = END - timedelta(days=7)
GROUPS = {
    "钱包密码忘了怎么办": "password",
    "忘记钱包密码了怎么找回": "password",
    "钱包密码忘记了咋办": "password",
    "NFT 怎么转出去": "nft",
    "矿工费为什么这么贵": "fees",
    "我的钱被盗了，有人转走了我的USDT": "stolen",
}
PASSWORD_REPLY = "钱包密码只保存在您的设备上，忘记后请用助记词重新导入钱包并设置新密码。"


@pytest.fixture
def desk(tmp_path: Path) -> tuple[Store, Path, Clock]:
    """A week of handoffs: three users forgot their password (two answered by agents, one
    reply with a pasted seed phrase written by an older version), an NFT question nobody
    answered, stolen funds (a rule's case) and an edited suggestion about fees."""
    path = tmp_path / "kefu.db"
    clock = Clock(END - timedelta(days=3))
    store = Store(f"sqlite:///{path}", clock=clock)
    store.migrate()

    def handoff(question: str, reason: str, reply: str | None = None) -> str:
        clock.now += timedelta(minutes=5)
        saved = store.save_answer(question=question, answer="转人工", confidence=0.2, action="handoff",
                                  reason=reason, handoff=HandoffRequest(reason=reason))  # fmt: skip
        assert saved.handoff is not None
        if reply is not None:
            store.resolve_handoff(saved.handoff.id, final_reply=reply, agent="agent-1")
        return saved.handoff.id

    handoff("钱包密码忘了怎么办", "low_confidence", PASSWORD_REPLY)
    handoff("忘记钱包密码了怎么找回", "no_sources", PASSWORD_REPLY)
    leaked = handoff("钱包密码忘记了咋办", "low_confidence", "已处理")
    handoff("NFT 怎么转出去", "no_sources")
    handoff("我的钱被盗了，有人转走了我的USDT", "low_confidence", "已为您报警处理，请保留记录。")
    clock.now += timedelta(minutes=5)
    suggestion = store.save_answer(question="矿工费为什么这么贵", answer="建议", confidence=0.5, action="answer",
                                   mode="suggest")  # fmt: skip
    store.record_feedback(suggestion.answer.id, "edited", final_text="网络拥堵时矿工费会上涨，可稍后再转。")
    with sqlite3.connect(path) as raw:  # as if stored before replies were redacted
        raw.execute("UPDATE handoffs SET final_reply = ? WHERE id = ?", (f"您的助记词 {MNEMONIC} 已泄露", leaked))
    return store, path, clock


def test_resolved_handoffs_and_edited_suggestions_become_drafts_without_secrets(
    desk: tuple[Store, Path, Clock],
) -> None:
    store, path, _ = desk
    embedder = LabelledEmbedder(GROUPS)
    outcome = learn(store, start=START, end=END, embedder=embedder)
    assert (outcome.handoffs_read, outcome.suggestions_read, outcome.skipped_by_rules) == (5, 1, 1)
    drafts = {d.question: d for d in outcome.drafts}
    assert set(drafts) == {"钱包密码忘了怎么办", "矿工费为什么这么贵"}  # nobody answered the NFT question
    password = drafts["钱包密码忘了怎么办"]
    assert (password.answer, password.users, password.lang, password.status) == (PASSWORD_REPLY, 3, "zh", "pending")
    assert set(password.examples) == {"忘记钱包密码了怎么找回", "钱包密码忘记了咋办"}
    assert drafts["矿工费为什么这么贵"].answer == "网络拥堵时矿工费会上涨，可稍后再转。"
    with sqlite3.connect(path) as raw:
        stored = json.dumps(raw.execute("SELECT * FROM faq_drafts").fetchall(), ensure_ascii=False)
    assert all(word not in stored for word in MNEMONIC.split()[2:6])
    # What was drafted is not drafted again.
    assert learn(store, start=START, end=END, embedder=embedder).drafts == []


def test_an_approved_draft_answers_the_next_question_and_a_rejected_one_never_shows(
    desk: tuple[Store, Path, Clock],
) -> None:
    store, _, _ = desk
    embedder = LabelledEmbedder(GROUPS)
    drafts = {d.question: d for d in learn(store, start=START, end=END, embedder=embedder).drafts}
    matcher = CuratedMatcher(store, embedder)
    # Nothing unreviewed is shown.
    assert matcher.match("钱包密码忘记了咋办", "zh") is None
    _, curated = store.approve_draft(drafts["钱包密码忘了怎么办"].id, by="admin")
    store.reject_draft(drafts["矿工费为什么这么贵"].id, by="admin")
    match = matcher.match("钱包密码忘记了咋办", "zh")
    assert match is not None and match.answer == PASSWORD_REPLY and match.curated.id == curated.id
    assert matcher.match("矿工费为什么这么贵", "zh") is None
    assert store.get_curated(curated.id).hits == 1


def test_kefu_learn_and_kefu_drafts(desk: tuple[Store, Path, Clock], monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    _, path, _ = desk
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{path}")
    args = ["--since", "7d", "--until", END.isoformat(), "--group", "text", "--json"]
    assert main(["learn", *args, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and len(dry["drafts"]) == 3  # by text: the three password wordings stay apart
    assert main(["drafts", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["learn", *args]) == 0
    made = json.loads(capsys.readouterr().out)["drafts"]
    first = made[0]["id"]
    assert main(["drafts", "edit", str(first), "--answer", "改写后的回答"]) == 0
    capsys.readouterr()
    assert main(["drafts", "approve", str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "approved"
    assert main(["curated", "list", "--json"]) == 0
    [curated] = json.loads(capsys.readouterr().out)
    assert curated["answer_zh"] == "改写后的回答"
    assert main(["drafts", "approve", str(first)]) == 1
    assert "pending" in capsys.readouterr().err


def test_the_server_drafts_on_a_schedule_only_when_asked(desk: tuple[Store, Path, Clock]) -> None:
    import asyncio

    from kefu.settings import Settings
    from service.api.runtime import Runtime

    store, _, clock = desk
    assert Settings.from_env({}).learn_every_hours == 0  # off by default
    # Every 3.6 s, the schedule reads the 3.6 s before the real "now".
    runtime = Runtime(Settings.from_env({"KEFU_LEARN_EVERY_HOURS": "0.001"}), store=store)

    async def run_a_while(during: Callable[[], None] = lambda: None) -> None:
        task = asyncio.create_task(runtime._learn_on_schedule())
        await asyncio.sleep(1)
        during()
        await asyncio.sleep(4)
        task.cancel()

    asyncio.run(run_a_while())
    assert store.list_drafts() == []  # the desk's handoffs are days older than what it reads

    def resolved_handoff() -> None:
        clock.now = datetime.now(UTC)
        fresh = store.save_answer(question="NFT 怎么转出去", answer="转人工", confidence=0.2, action="handoff",
                                  reason="no_sources", handoff=HandoffRequest(reason="no_sources"))  # fmt: skip
        assert fresh.handoff is not None
        store.resolve_handoff(fresh.handoff.id, final_reply="在 NFT 详情页点转账即可。", agent="a")

    asyncio.run(run_a_while(resolved_handoff))
    assert [d.answer for d in store.list_drafts()] == ["在 NFT 详情页点转账即可。"]
