"""The store on PostgreSQL: the same migrations and behaviour as on SQLite.

Opt-in: set ``KEFU_TEST_POSTGRES_URL`` to a scratch database (every table in it is
dropped), e.g. ``postgresql+psycopg://kefu@127.0.0.1:5432/kefu_test``, with ``psycopg``
installed (``pip install 'kefu[postgres]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from kefu.errors import ConflictError, NotFoundError
from service.keys import create_key, verify_key
from service.store import HandoffRequest, Store, current_revision, head_revision
from service.store.models import Base

URL = os.environ.get("KEFU_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="set KEFU_TEST_POSTGRES_URL to test on PostgreSQL")

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WEBHOOK = "https://hooks.example.com/kefu"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[Store]:
    engine = create_engine(URL)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    s = Store(URL, webhook_url=WEBHOOK, clock=clock)
    s.migrate()
    yield s
    s.close()


def test_migration_builds_exactly_the_models_schema_and_is_idempotent(store: Store) -> None:
    store.migrate()
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert current_revision(store.engine) == head_revision()


def test_a_conversation_from_question_to_resolved_handoff(store: Store, clock: Clock) -> None:
    key, record = create_key(store, "agent", "alice")
    assert verify_key(store, key, ["agent"]).last_used_at == T0
    first = store.save_answer(question="转账卡住了", answer="请稍候 [1]", confidence=0.4, action="answer")
    clock.advance()
    saved = store.save_answer(
        question="还是没到，我要人工",
        answer="正在为你转接人工客服。",
        confidence=0.0,
        action="handoff",
        conversation_id=first.conversation.id,
        citations=[{"n": 1, "title": "打包中"}],
        handoff=HandoffRequest(reason="human_requested", priority="high", payload={"evidence": []}),
    )
    assert saved.handoff is not None
    history = store.conversation_history(first.conversation.id, turns=1)
    assert [m.text for m in history] == ["还是没到，我要人工", "正在为你转接人工客服。"]
    assert store.get_answer(saved.answer.id).created_at == clock.now
    assert store.get_answer(saved.answer.id).created_at.tzinfo == UTC

    store.record_feedback(first.answer.id, "not_helpful", api_key_id=record.id)
    with pytest.raises(NotFoundError):
        store.record_feedback("missing", "helpful")

    clock.advance()
    claimed = store.claim_handoff(saved.handoff.id, agent=record.label)
    assert (claimed.status, claimed.claimed_at) == ("claimed", clock.now)
    with pytest.raises(ConflictError):
        store.claim_handoff(saved.handoff.id, agent="bob")
    resolved = store.resolve_handoff(saved.handoff.id, final_reply="已处理。", agent="alice")
    assert (resolved.status, resolved.claimed_by) == ("resolved", "alice")
    with pytest.raises(ConflictError):
        store.resolve_handoff(saved.handoff.id, final_reply="again", agent="alice")

    counts = store.counts()
    assert (counts.answers, counts.handoffs, counts.feedback_by_kind) == (2, 1, {"not_helpful": 1})
    assert counts.handoff_rate == 0.5


def test_queue_order_and_pages(store: Store, clock: Clock) -> None:
    conversation = store.save_answer(question="q", answer="a", confidence=0.5, action="answer").conversation.id
    ids = []
    for priority in ("low", "urgent", "normal", "urgent"):
        clock.advance()
        ids.append(store.create_handoff(conversation, HandoffRequest(reason="r", priority=priority)).id)
    assert [h.id for h in store.list_handoffs(order="priority").items] == [ids[1], ids[3], ids[2], ids[0]]
    page = store.list_handoffs(priority="urgent", limit=1, offset=1)
    assert ([h.id for h in page.items], page.total) == ([ids[1]], 2)


def test_outbox_lease_and_backoff(store: Store, clock: Clock) -> None:
    conversation = store.save_answer(question="q", answer="a", confidence=0.5, action="answer").conversation.id
    store.create_handoff(conversation, HandoffRequest(reason="r"))
    [due] = store.due_deliveries()
    assert store.due_deliveries() == []
    failed = store.mark_failed(due.delivery.id, "HTTP 500")
    assert failed.next_attempt_at == clock.now + timedelta(seconds=30)
    clock.advance(30)
    [again] = store.due_deliveries()
    assert store.mark_delivered(again.delivery.id).status == "delivered"


def test_a_failure_mid_transaction_leaves_nothing_written(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE answers ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    with pytest.raises(ConflictError):
        store.save_answer(question="q", answer="a", confidence=0.5, action="answer")
    with store.engine.connect() as connection:
        for table in ("conversations", "messages", "answers"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_of_agents_claiming_at_once_exactly_one_wins(store: Store) -> None:
    conversation = store.save_answer(question="q", answer="a", confidence=0.5, action="answer").conversation.id
    handoff = store.create_handoff(conversation, HandoffRequest(reason="r"))

    def claim(n: int) -> bool:
        try:
            store.claim_handoff(handoff.id, agent=f"agent-{n}")
        except ConflictError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(claim, range(16))) == 1
