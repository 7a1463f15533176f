"""The store's side of the learning loop, on SQLite and PostgreSQL: curated answers, one
satisfaction rating per conversation with its webhook event, and the FAQ draft queue."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from kefu.errors import BadInputError, ConflictError, NotFoundError
from service.store import HandoffRequest, Owner, Store, current_revision
from service.store.migrate import alembic_config
from tests.service.databases import WEBHOOK, Clock, Database
from tests.service.test_store import MNEMONIC, ask

pytestmark = pytest.mark.integration


def test_curated_answers_are_created_edited_disabled_and_deleted(hooked: Store, clock: Clock, db: Database) -> None:
    made = hooked.add_curated(
        question_zh="钱包密码忘了怎么办", answer_zh="用助记词重新导入钱包，再设新密码。",
        question_en="I forgot my wallet password", answer_en="Import the wallet again with its recovery phrase.",
        articles=["help/zh/wallet/backup-mnemonic.md"], by="admin-1",
    )  # fmt: skip
    assert (
        made.enabled
        and made.hits == 0
        and made.questions() == {"zh": "钱包密码忘了怎么办", "en": "I forgot my wallet password"}
    )
    version = hooked.curated_version()
    assert version[0] == 1
    clock.advance()
    edited = hooked.update_curated(made.id, answer_zh="用助记词重新导入。", by="admin-2")
    assert edited.answer_zh == "用助记词重新导入。" and edited.question_en == made.question_en
    assert edited.updated_by == "admin-2" and hooked.curated_version() != version
    clock.advance()
    version = hooked.curated_version()
    hooked.record_curated_hit(made.id)
    hooked.record_curated_hit(made.id)
    assert hooked.get_curated(made.id).hits == 2 and hooked.curated_version() == version  # a use is no change
    hooked.update_curated(made.id, enabled=False)
    assert hooked.list_curated(enabled=True) == [] and [c.id for c in hooked.list_curated()] == [made.id]
    # Removing the English answer while the English question stays is refused, naming the field.
    with pytest.raises(BadInputError, match="answer_en"):
        hooked.update_curated(made.id, answer_en=None)
    with pytest.raises(BadInputError, match="unknown"):
        hooked.update_curated(made.id, hits=99)
    hooked.delete_curated(made.id)
    assert hooked.list_curated() == [] and db.count("curated_answers") == 0
    with pytest.raises(NotFoundError):
        hooked.get_curated(made.id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"answer_zh": "a"}, "needs a question"),
        ({"question_zh": "q"}, "answer_zh"),
        ({"question_en": "q", "answer_zh": "a"}, "answer_en"),
        ({"question_zh": "q", "answer_zh": "a", "articles": "help/x.md"}, "list"),
        ({"question_zh": "q" * 501, "answer_zh": "a"}, "question_zh is at most 500"),
    ],
)
def test_a_curated_answer_that_cannot_be_answered_is_refused(store: Store, fields: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadInputError, match=message):
        store.add_curated(**fields)
    assert store.list_curated() == []


def test_secrets_never_reach_a_curated_answer(store: Store, db: Database) -> None:
    store.add_curated(question_en="is this phrase ok", answer_en=f"do not share {MNEMONIC}")
    assert MNEMONIC.split()[3] not in db.content()


def test_a_conversation_is_rated_once_by_its_owner_and_the_rating_is_announced(hooked: Store, db: Database) -> None:
    saved = ask(hooked, user_id="u1", owner=Owner(api_key_id=None, user_id="u1"))
    conversation = saved.conversation.id
    owner = Owner(api_key_id=None, user_id="u1")
    with pytest.raises(NotFoundError):
        hooked.save_csat(conversation, 5, owner=Owner(api_key_id=None, user_id="u2"))
    with pytest.raises(BadInputError, match="1 to 5"):
        hooked.save_csat(conversation, 6, owner=owner)
    rated = hooked.save_csat(conversation, 4, comment=f"ok, my phrase {MNEMONIC}", owner=owner)
    assert (rated.score, rated.handled_by) == (4, "bot")
    assert rated.comment is not None and MNEMONIC not in rated.comment
    with pytest.raises(ConflictError, match="already rated"):
        hooked.save_csat(conversation, 1, owner=owner)
    assert db.count("csat_ratings") == 1
    [delivery] = hooked.deliveries_of_conversation(conversation)
    assert delivery.event == "csat.submitted" and delivery.handoff_id is None
    assert delivery.body["csat"]["score"] == 4
    [due] = hooked.due_deliveries()
    assert due.handoff is None and due.delivery.id == delivery.id
    hooked.mark_delivered(delivery.id)


def test_a_rating_after_an_agent_resolved_the_handoff_is_the_agents(store: Store) -> None:
    saved = ask(store, action="handoff", handoff=HandoffRequest(reason="low_confidence"))
    assert saved.handoff is not None
    store.resolve_handoff(saved.handoff.id, final_reply="已处理", agent="alice")
    assert store.save_csat(saved.conversation.id, 2).handled_by == "agent"
    assert store.get_csat(saved.conversation.id) is not None


def test_drafts_are_edited_approved_into_curated_answers_or_rejected(store: Store, db: Database) -> None:
    draft = store.add_draft(
        question="转账失败手续费退吗", answer=f"失败的交易不退矿工费。{MNEMONIC}", lang="zh", users=3,
        examples=["转账失败了矿工费还扣吗"], sources={"handoffs": ["h1"], "answers": ["a1"]},
    )  # fmt: skip
    assert MNEMONIC.split()[3] not in db.content() and draft.status == "pending"
    assert store.drafted_sources() == {"handoffs": {"h1"}, "answers": {"a1"}}
    edited = store.edit_draft(draft.id, answer="失败的交易会扣矿工费，资产不会扣除。")
    approved, curated = store.approve_draft(draft.id, by="admin", articles=["fqa/why-do-not-return-my-coins.md"])
    assert approved.status == "approved" and approved.curated_id == curated.id
    assert (curated.question_zh, curated.answer_zh, curated.question_en) == (draft.question, edited.answer, None)
    assert curated.enabled and curated.articles == ("fqa/why-do-not-return-my-coins.md",)
    with pytest.raises(ConflictError, match="approved"):
        store.reject_draft(draft.id, by="admin")
    other = store.add_draft(question="q", answer="a", lang="en", users=1)
    assert store.reject_draft(other.id, by="admin").status == "rejected"
    assert [d.id for d in store.list_drafts(status="pending")] == []
    assert {d.id for d in store.list_drafts()} == {draft.id, other.id}


def test_the_migration_keeps_handoff_deliveries_and_goes_back(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'kefu.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    with Store(url, clock=clock, webhook_url=WEBHOOK) as store:
        saved = ask(store, action="handoff", handoff=HandoffRequest(reason="r"))
        store.save_csat(saved.conversation.id, 5)
        assert current_revision(store.engine) == "0005"
    command.downgrade(config, "0004")
    with sqlite3.connect(tmp_path / "kefu.db") as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
        assert raw.execute("SELECT event FROM webhook_deliveries").fetchall() == [("handoff.created",)]
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"curated_answers", "csat_ratings", "faq_drafts"}
