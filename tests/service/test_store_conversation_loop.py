"""The store's side of the conversation loop: one open handoff per conversation, the
user's and the agents' messages while it is open, the events of the outbox, and the
migration that added them to a database with data in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from kefu.errors import BadInputError, ConflictError, NotFoundError
from service.store import HandoffRequest, Store, current_revision, head_revision
from service.store.migrate import alembic_config
from tests.service.databases import WEBHOOK, Clock, make_store
from tests.service.test_store import MNEMONIC, ask, escalate

pytestmark = pytest.mark.integration


@pytest.fixture
def hooked(tmp_path: Path, clock: Clock) -> Store:
    return make_store(tmp_path / "kefu.db", clock, webhook_url=WEBHOOK)


def test_a_conversation_has_one_open_handoff_and_later_messages_join_it(hooked: Store, clock: Clock) -> None:
    first = escalate(hooked, user_id="u1")
    clock.advance()
    again = ask(
        hooked,
        "还是转人工",
        conversation_id=first.conversation_id,
        action="handoff",
        handoff=HandoffRequest(reason="human_requested"),
        user_id="u1",
    )
    assert again.handoff is not None and again.handoff.id == first.id
    clock.advance()
    added = hooked.add_user_message(first.conversation_id, f"我的助记词是 {MNEMONIC}", user_id="u1")
    assert added is not None and added.handoff.id == first.id and added.handoff.waiting == 2
    assert MNEMONIC not in added.message.text and added.message.role == "user"
    with pytest.raises(NotFoundError):
        hooked.add_user_message(first.conversation_id, "hi", user_id="u2")
    assert [h.id for h in hooked.list_handoffs(status=["open", "claimed"]).items] == [first.id]
    assert hooked.active_handoff(first.conversation_id).id == first.id  # type: ignore[union-attr]
    # No handoff open: nothing is written and the caller answers as usual.
    plain = ask(hooked)
    assert hooked.add_user_message(plain.conversation.id, "在吗") is None
    assert [m.role for m in hooked.messages(plain.conversation.id)] == ["user", "assistant"]


def test_agents_reply_claim_on_the_way_and_resolve_hands_back(hooked: Store, clock: Clock) -> None:
    handoff = escalate(hooked)
    clock.advance()
    sent = hooked.reply_to_handoff(handoff.id, "您好，我来处理", agent="alice")
    assert sent.handoff.status == "claimed" and sent.handoff.claimed_by == "alice"
    assert (sent.message.role, sent.message.author) == ("agent", "alice")
    hooked.reply_to_handoff(handoff.id, "还在查", agent="alice")
    resolved = hooked.resolve_handoff(handoff.id, final_reply="已解决", agent="alice")
    assert resolved.status == "resolved" and hooked.active_handoff(handoff.conversation_id) is None
    roles = [(m.role, m.author) for m in hooked.messages(handoff.conversation_id)]
    assert roles == [("user", None), ("assistant", None), ("agent", "alice"), ("agent", "alice"), ("agent", "alice")]
    assert [d.event for d in hooked.deliveries_for(handoff.id)] == [
        "handoff.created",
        "handoff.claimed",
        "message.created",
        "message.created",
        "message.created",
        "handoff.resolved",
    ]
    bodies = [d.body for d in hooked.deliveries_for(handoff.id) if d.event == "message.created"]
    assert [b["message"]["text"] for b in bodies] == ["您好，我来处理", "还在查", "已解决"]
    with pytest.raises(ConflictError, match="resolved"):
        hooked.reply_to_handoff(handoff.id, "再说一句", agent="alice")
    with pytest.raises(BadInputError):
        hooked.reply_to_handoff(handoff.id, "  ", agent="alice")
    with pytest.raises(NotFoundError):
        hooked.reply_to_handoff("nope", "x", agent="alice")
    # A new handoff in the same conversation is a new one.
    later = escalate(hooked, conversation_id=handoff.conversation_id)
    assert later.id != handoff.id and later.status == "open"


def test_messages_page_by_id_and_carry_their_answers_citations(hooked: Store) -> None:
    cite = {"n": 1, "source": "help/zh/a.md", "title": "A", "url": "https://h.example/a", "snippet": "s"}
    saved = ask(hooked, citations=[cite])
    [question, answer] = hooked.messages(saved.conversation.id)
    assert answer.answer_id == saved.answer.id and answer.citations == [cite] and question.citations == []
    assert hooked.messages(saved.conversation.id, after=question.id) == [answer]
    assert hooked.messages(saved.conversation.id, after=answer.id) == []


def test_keys_limited_to_origins(hooked: Store) -> None:
    record = hooked.add_api_key(
        name="shop", role="app", key_hash="a" * 64, prefix="kefu_app_x", allowed_origins=["https://w.example/"]
    )
    assert record.allowed_origins == ("https://w.example",)
    with pytest.raises(BadInputError, match="not an origin"):
        hooked.add_api_key(name="x", role="app", key_hash="b" * 64, prefix="p", allowed_origins=["w.example"])


def test_the_migration_keeps_a_databases_messages_and_deliveries(tmp_path: Path, clock: Clock) -> None:
    db = tmp_path / "old.db"
    store = make_store(db, clock, webhook_url=WEBHOOK)
    handoff = escalate(store)
    resolved = store.resolve_handoff(handoff.id, final_reply="好了", agent="a")
    with store.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with sqlite3.connect(db) as raw:
        roles = raw.execute("SELECT role FROM messages ORDER BY id").fetchall()
        assert roles == [("user",), ("assistant",), ("assistant",)]
        assert raw.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (3,)
    store.migrate()
    assert current_revision(store.engine) == head_revision()
    assert [m.text for m in store.messages(resolved.conversation_id)][-1] == "好了"
    assert {d.event for d in store.deliveries_for(handoff.id)} == {"handoff.created"}
    store.close()
