"""The store against a real SQLite file and a real PostgreSQL server: every method,
transactions, redaction, migrations. Tests of one backend's own behaviour take ``db_path``."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

import service.store.engine as engine_module
from kefu.errors import (
    AuthError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadInputError,
    ConflictError,
    ForbiddenError,
    KefuError,
    NotFoundError,
)
from service.keys import (
    bearer_key,
    create_key,
    display_prefix,
    generate_key,
    hash_key,
    keys_command,
    verify_key,
)
from service.store import (
    HandoffRecord,
    HandoffRequest,
    RetryPolicy,
    SavedAnswer,
    Store,
    current_revision,
    head_revision,
    upgrade_database,
)
from service.store.migrate import alembic_config
from service.store.models import Base
from tests.phrases import seed_phrase
from tests.service.databases import BACKENDS, T0, WEBHOOK, Clock, Database, make_database, make_store

pytestmark = pytest.mark.integration

#: The schema the previous release shipped (its migration head), and its tables.
PREVIOUS_RELEASE = "0001"
PREVIOUS_RELEASE_TABLES = {
    "api_keys",
    "conversations",
    "messages",
    "answers",
    "feedback",
    "handoffs",
    "webhook_deliveries",
}
MNEMONIC = seed_phrase()  # a valid 12-word phrase
HEX64 = "9f3a" * 16


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite file, for the tests of SQLite's own behaviour."""
    return tmp_path / "data" / "kefu.db"


def ask(store: Store, question: str = "转账一直卡住怎么办", **kw: Any) -> SavedAnswer:
    options: dict[str, Any] = {"answer": "提高矿工费后重试 [1]", "confidence": 0.8, "action": "answer"}
    options.update(kw)
    return store.save_answer(question=question, **options)


def escalate(store: Store, request: HandoffRequest | None = None, **kw: Any) -> HandoffRecord:
    """Ask a question whose answer is a handoff; returns the handoff."""
    handoff = ask(store, action="handoff", handoff=request or HandoffRequest(reason="r"), **kw).handoff
    assert handoff is not None
    return handoff


# --- migrations -------------------------------------------------------------------------------


def test_migration_builds_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []
    assert current_revision(store.engine) == head_revision() == "0005"


def test_the_schema_comparison_does_notice_a_difference(store: Store) -> None:
    # Guards the test above: a model the migrations do not know about shows up.
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["api_keys"].append_column(Column("extra", Integer))
    with store.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    assert [d[0] for d in diffs] == ["add_column"]


def test_migrate_is_idempotent_and_keeps_data(store: Store, db: Database) -> None:
    saved = ask(store)
    store.migrate()
    upgrade_database(db.url)
    assert current_revision(store.engine) == head_revision()
    assert store.get_answer(saved.answer.id) == saved.answer


def test_an_upgrade_from_the_previous_release_keeps_its_data(db: Database, clock: Clock) -> None:
    upgrade_database(db.url, PREVIOUS_RELEASE)
    assert set(inspect_tables(db)) == PREVIOUS_RELEASE_TABLES | {"alembic_version"}
    # Rows as the previous release wrote them, in raw SQL: today's models may differ.
    at = "'2025-03-01 09:00:00+00:00'" if db.kind == "postgresql" else "'2025-03-01 09:00:00.000000'"
    key_hash = hashlib.sha256(b"kefu_agent_old").hexdigest()
    db.execute(
        "INSERT INTO api_keys (id, name, role, key_hash, prefix, created_at) "
        f"VALUES (7, 'alice', 'agent', '{key_hash}', 'kefu_agent_old', {at})",
        f"INSERT INTO conversations (id, channel, user_id, lang, created_at, updated_at) "
        f"VALUES ('c-1', 'app', 'u-1', 'zh', {at}, {at})",
        f"INSERT INTO messages (conversation_id, role, text, created_at) VALUES ('c-1', 'user', '转账卡住了', {at})",
        "INSERT INTO messages (conversation_id, role, text, created_at) "
        f"VALUES ('c-1', 'assistant', '请稍候 [1]', {at})",
        "INSERT INTO answers (id, conversation_id, question, answer, citations, confidence, action, mode, created_at) "
        f"""VALUES ('a-1', 'c-1', '转账卡住了', '请稍候 [1]', '[{{"n": 1}}]', 0.4, 'handoff', 'answer', {at})""",
        "INSERT INTO handoffs (id, conversation_id, answer_id, status, reason, priority, payload, created_at) "
        f"""VALUES ('h-1', 'c-1', 'a-1', 'open', 'human_requested', 'high', '{{"evidence": []}}', {at})""",
    )
    store = make_store(db, clock)
    try:
        assert current_revision(store.engine) == head_revision()
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        answer = store.get_answer("a-1")
        assert (answer.question, answer.citations, answer.created_at) == ("转账卡住了", [{"n": 1}], T0)
        assert [m.text for m in store.conversation_history("c-1", user_id="u-1")] == ["转账卡住了", "请稍候 [1]"]
        assert store.authenticate(key_hash) is not None
        clock.advance()
        assert store.claim_handoff("h-1", agent="alice").claimed_at == clock.now
        follow_up = ask(store, "还是没到", conversation_id="c-1", user_id="u-1")
        assert follow_up.conversation.id == "c-1"
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_replicas_migrating_a_new_database_at_once_all_start(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> None:
    db = make_database(request, backend, tmp_path)
    stores = [Store(db.url, clock=clock) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(Store.migrate, stores))
        assert current_revision(stores[0].engine) == head_revision()
        assert db.rows("SELECT version_num FROM alembic_version") == [(head_revision(),)]
        ask(stores[1])
    finally:
        for s in stores:
            s.close()


def inspect_tables(db: Database) -> list[str]:
    with Store(db.url) as s:
        return inspect(s.engine).get_table_names()


def test_downgrade_removes_everything_and_upgrade_rebuilds_it(store: Store) -> None:
    with store.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    store.migrate()
    assert set(inspect(store.engine).get_table_names()) >= set(Base.metadata.tables)


def test_sqlite_gets_foreign_keys_and_wal(db_path: Path, clock: Clock) -> None:
    with make_store(db_path, clock) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_folder_of_a_new_database_is_created(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "new" / "deeper" / "kefu.db"
    with make_store(path, clock):
        assert path.is_file()


def test_a_database_that_cannot_be_opened_is_backend_unavailable(tmp_path: Path, clock: Clock) -> None:
    (tmp_path / "adir").mkdir()
    store = Store(f"sqlite:///{tmp_path / 'adir'}", clock=clock)
    with pytest.raises(BackendUnavailableError, match="database"):
        store.migrate()
    with pytest.raises(BackendUnavailableError):
        store.list_api_keys()


def test_a_database_locked_by_another_writer_is_a_timeout(
    db_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT", 0.1)
    store = make_store(db_path, clock)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BackendTimeoutError, match="locked"):
            ask(store)
        # Reads do not wait for the writer (WAL, and reads begin DEFERRED).
        assert store.list_api_keys() == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    ask(store)
    store.close()


def test_a_new_file_another_connection_is_writing_still_becomes_wal(db_path: Path, clock: Clock) -> None:
    # SQLite refuses the switch to WAL at once, without waiting, while another
    # connection holds a new file's lock: the store must wait for it like for any writer.
    db_path.parent.mkdir()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = pool.submit(make_store, db_path, clock)
        time.sleep(0.3)
        assert not opening.done()
        other.execute("COMMIT")
        store = opening.result(timeout=10)
    other.close()
    with store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_new_file_locked_longer_than_the_busy_timeout_is_a_timeout(
    db_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT", 0.2)
    db_path.parent.mkdir()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE elsewhere (x INTEGER)")
    try:
        started = time.monotonic()
        with pytest.raises(BackendTimeoutError, match="locked"):
            make_store(db_path, clock)
        assert time.monotonic() - started >= 0.1
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_importing_the_store_loads_no_web_framework() -> None:
    code = "import sys, service.store, service.keys; print('litestar' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_timestamps_are_utc_whatever_the_clock_zone(db: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    store = make_store(db, Clock(datetime(2025, 3, 1, 17, 0, tzinfo=beijing)))
    saved = ask(store)
    stored = store.get_answer(saved.answer.id).created_at
    assert stored == T0
    assert stored.tzinfo == UTC


def test_a_naive_clock_is_refused(db: Database) -> None:
    store = make_store(db, Clock(datetime(2025, 3, 1, 9, 0)))
    with pytest.raises(ValueError, match="naive"):
        ask(store)
    assert db.count("conversations") == 0


# --- API keys ---------------------------------------------------------------------------------


def test_created_keys_have_the_documented_shape_and_only_their_hash_is_stored(store: Store, db: Database) -> None:
    key, record = create_key(store, "agent", "alice")
    assert re.fullmatch(r"kefu_agent_[A-Za-z0-9_-]{32}", key)
    assert record.prefix == key[: len("kefu_agent_") + 8]
    assert (record.name, record.role, record.active, record.last_used_at) == ("alice", "agent", True, None)
    assert db.rows("SELECT key_hash FROM api_keys") == [(hashlib.sha256(key.encode()).hexdigest(),)]
    content = db.content()
    assert key not in content
    assert key[len(record.prefix) :] not in content


def test_keys_are_random() -> None:
    assert len({generate_key("app") for _ in range(100)}) == 100
    assert display_prefix("something-else-entirely") == "somethin"


def test_verify_accepts_the_key_and_records_its_use(store: Store, clock: Clock) -> None:
    key, record = create_key(store, "app", "wallet")
    clock.advance(5)
    verified = verify_key(store, key, roles=["app"])
    assert verified.id == record.id
    assert verified.last_used_at == clock.now
    assert store.get_api_key(record.id).last_used_at == clock.now


def test_last_used_is_written_at_most_once_a_minute(store: Store, clock: Clock) -> None:
    key, record = create_key(store, "app", "wallet")
    first = verify_key(store, key).last_used_at
    clock.advance(30)
    verify_key(store, key)
    assert store.get_api_key(record.id).last_used_at == first
    clock.advance(31)
    verify_key(store, key)
    assert store.get_api_key(record.id).last_used_at == clock.now


@pytest.mark.parametrize("presented", [None, "", "   ", "kefu_app_" + "x" * 32, "not a key"])
def test_missing_or_unknown_keys_are_auth_errors(store: Store, presented: str | None) -> None:
    create_key(store, "app", "wallet")
    with pytest.raises(AuthError) as info:
        verify_key(store, presented)
    assert type(info.value) is AuthError
    assert info.value.code == "unauthorized"


def test_a_key_of_the_wrong_role_is_forbidden_and_admin_may_do_anything(store: Store) -> None:
    app_key, _ = create_key(store, "app", "wallet")
    admin_key, _ = create_key(store, "admin", "ops")
    with pytest.raises(ForbiddenError) as info:
        verify_key(store, app_key, roles=["agent"])
    assert info.value.code == "forbidden"
    assert verify_key(store, admin_key, roles=["agent"]).role == "admin"
    assert verify_key(store, admin_key, roles=["app"]).role == "admin"


def test_a_revoked_key_no_longer_verifies(store: Store, clock: Clock) -> None:
    key, record = create_key(store, "agent", "bob")
    verify_key(store, key)
    clock.advance()
    revoked = store.revoke_api_key(record.id)
    assert revoked.revoked_at == clock.now
    assert not revoked.active
    with pytest.raises(AuthError):
        verify_key(store, key)
    clock.advance()
    assert store.revoke_api_key(record.id).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(NotFoundError):
        store.revoke_api_key(999)


def test_list_keys_and_filter_revoked(store: Store) -> None:
    _, a = create_key(store, "app", "a")
    _, b = create_key(store, "agent", "b")
    store.revoke_api_key(a.id)
    assert [k.id for k in store.list_api_keys()] == [a.id, b.id]
    assert [k.id for k in store.list_api_keys(include_revoked=False)] == [b.id]


def test_add_api_key_checks_its_input(store: Store) -> None:
    with pytest.raises(BadInputError, match="role"):
        store.add_api_key(name="x", role="root", key_hash="a" * 64, prefix="p")  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="key_hash"):
        store.add_api_key(name="x", role="app", key_hash="plaintext", prefix="p")
    with pytest.raises(BadInputError, match="100"):
        store.add_api_key(name="x" * 101, role="app", key_hash="a" * 64, prefix="p")
    store.add_api_key(name="x", role="app", key_hash="a" * 64, prefix="p")
    with pytest.raises(ConflictError):
        store.add_api_key(name="y", role="app", key_hash="a" * 64, prefix="p")
    assert store.authenticate("A" * 64) is None


def test_keys_command_create_list_revoke(store: Store) -> None:
    out = keys_command(store, "create", role="agent", name="alice")
    assert out.startswith("Created agent key 1 (alice). Store it now")
    key = out.splitlines()[-1]
    assert verify_key(store, key).name == "alice"
    listing = keys_command(store, "list")
    assert listing.splitlines()[0].split() == [
        "ID",
        "ROLE",
        "NAME",
        "KEY",
        "CREATED",
        "LAST",
        "USED",
        "STATUS",
    ]
    assert f"{display_prefix(key)}..." in listing
    assert key not in listing
    assert keys_command(store, "revoke", key_id="1") == "Revoked agent key 1 (alice)."
    assert "revoked 2025-03-01 09:00 UTC" in keys_command(store, "list")


def test_keys_command_rejects_bad_arguments(store: Store) -> None:
    assert keys_command(store, "list").startswith("No API keys.")
    with pytest.raises(BadInputError, match="--role"):
        keys_command(store, "create")
    with pytest.raises(BadInputError, match="role must be one of"):
        keys_command(store, "create", role="root")
    with pytest.raises(BadInputError, match="ID"):
        keys_command(store, "revoke", key_id="abc")
    with pytest.raises(NotFoundError):
        keys_command(store, "revoke", key_id=7)
    with pytest.raises(BadInputError, match="unknown keys action"):
        keys_command(store, "delete")


@pytest.mark.parametrize(
    ("header", "key"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), (None, None)],
)
def test_bearer_key(header: str | None, key: str | None) -> None:
    assert bearer_key(header) == key


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key("kefu_app_x") == hashlib.sha256(b"kefu_app_x").hexdigest()


# --- conversations and answers ----------------------------------------------------------------


def test_save_answer_starts_a_conversation_and_stores_every_field(store: Store, db: Database) -> None:
    saved = store.save_answer(
        question="How do I speed up a pending transfer?",
        answer="Raise the fee and resend [1].",
        confidence=0.82,
        action="answer",
        reason="grounded",
        channel="app",
        user_id="u-1",
        lang="en",
        citations=[{"n": 1, "source": "faq/fees.md", "title": "Fees"}],
        model="qwen2.5:3b-instruct",
        latency_ms=850,
        prompt_tokens=512,
        completion_tokens=40,
    )
    assert saved.handoff is None
    assert (saved.conversation.user_id, saved.conversation.lang, saved.conversation.created_at) == (
        "u-1",
        "en",
        T0,
    )
    got = store.get_answer(saved.answer.id)
    assert got == saved.answer
    assert got.citations == [{"n": 1, "source": "faq/fees.md", "title": "Fees"}]
    assert (got.mode, got.model, got.latency_ms, got.prompt_tokens, got.completion_tokens) == (
        "answer",
        "qwen2.5:3b-instruct",
        850,
        512,
        40,
    )
    assert db.count("messages") == 2
    assert store.get_conversation(saved.conversation.id, user_id="u-1") == saved.conversation


def test_a_follow_up_joins_its_conversation(store: Store, clock: Clock) -> None:
    first = ask(store, user_id="u-1", lang="zh")
    clock.advance()
    second = ask(store, "那要多久？", conversation_id=first.conversation.id, user_id="u-1")
    assert second.conversation.id == first.conversation.id
    assert second.conversation.updated_at == clock.now
    assert second.conversation.created_at == T0
    history = store.conversation_history(first.conversation.id)
    assert [(m.role, m.text) for m in history] == [
        ("user", "转账一直卡住怎么办"),
        ("assistant", "提高矿工费后重试 [1]"),
        ("user", "那要多久？"),
        ("assistant", "提高矿工费后重试 [1]"),
    ]


def test_history_returns_the_last_turns_oldest_first(store: Store) -> None:
    conversation = ask(store, "q0").conversation.id
    for n in range(1, 6):
        ask(store, f"q{n}", answer=f"a{n}", conversation_id=conversation)
    history = store.conversation_history(conversation, turns=2)
    assert [(m.role, m.text) for m in history] == [
        ("user", "q4"),
        ("assistant", "a4"),
        ("user", "q5"),
        ("assistant", "a5"),
    ]
    assert len(store.conversation_history(conversation, turns=50)) == 12
    with pytest.raises(BadInputError):
        store.conversation_history(conversation, turns=0)


def test_unknown_and_other_users_conversations_are_not_found(store: Store, db: Database) -> None:
    mine = ask(store, user_id="u-1").conversation.id
    with pytest.raises(NotFoundError) as info:
        ask(store, conversation_id="no-such-conversation")
    assert info.value.code == "not_found"
    with pytest.raises(NotFoundError):
        ask(store, conversation_id=mine, user_id="u-2")
    with pytest.raises(NotFoundError):
        store.conversation_history(mine, user_id="u-2")
    with pytest.raises(NotFoundError):
        store.get_answer("nope")
    assert db.count("messages") == 2


def test_a_suggestion_is_not_said_to_the_user(store: Store) -> None:
    saved = ask(store, mode="suggest", channel="zendesk")
    assert saved.answer.mode == "suggest"
    history = store.conversation_history(saved.conversation.id)
    assert [m.role for m in history] == ["user"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"mode": "chat"}, "mode"),
        ({"channel": "x" * 33}, "channel"),
        ({"handoff": HandoffRequest(reason="r", priority="asap")}, "priority"),  # type: ignore[arg-type]
        ({"handoff": HandoffRequest(reason=" ")}, "reason"),
    ],
)
def test_bad_answers_write_nothing(store: Store, db: Database, change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        ask(store, **change)
    assert db.count("conversations") == db.count("answers") == 0


# --- all or nothing -----------------------------------------------------------------------------


def test_a_failure_mid_save_leaves_nothing_written(store: Store, db: Database) -> None:
    db.fail_inserts_into("answers")
    with pytest.raises(ConflictError, match="boom"):
        ask(store)
    for table in ("conversations", "messages", "answers"):
        assert db.count(table) == 0


def test_a_failing_handoff_undoes_its_answer_too(store: Store, db: Database) -> None:
    db.fail_inserts_into("handoffs")
    with pytest.raises(ConflictError):
        ask(store, action="handoff", handoff=HandoffRequest(reason="human_requested"))
    for table in ("conversations", "messages", "answers", "handoffs"):
        assert db.count(table) == 0


def test_a_failing_outbox_row_undoes_its_handoff(hooked: Store, db: Database) -> None:
    conversation = ask(hooked).conversation.id
    db.fail_inserts_into("webhook_deliveries")
    with pytest.raises(ConflictError):
        hooked.create_handoff(conversation, HandoffRequest(reason="human_requested"))
    assert db.count("handoffs") == 0


def test_a_failing_feedback_message_undoes_the_feedback(store: Store, db: Database) -> None:
    saved = ask(store, mode="suggest")
    db.fail_inserts_into("messages")
    with pytest.raises(ConflictError):
        store.record_feedback(saved.answer.id, "sent_as_is")
    assert db.count("feedback") == 0


def test_a_failing_resolve_leaves_the_handoff_claimed(store: Store, db: Database) -> None:
    handoff = escalate(store)
    store.claim_handoff(handoff.id, agent="alice")
    db.fail_inserts_into("messages")
    with pytest.raises(ConflictError):
        store.resolve_handoff(handoff.id, final_reply="done", agent="alice")
    after = store.get_handoff(handoff.id)
    assert (after.status, after.final_reply, after.resolved_at) == ("claimed", None, None)


# --- redaction ----------------------------------------------------------------------------------


def test_a_seed_phrase_never_reaches_the_database(store: Store, db: Database) -> None:
    words = MNEMONIC.split()
    assert len(words) == 12
    question = f"my wallet is empty, my phrase is {MNEMONIC} please help"
    saved = store.save_answer(
        question=question,
        answer=f"Never share it. You wrote: {MNEMONIC}",
        confidence=0.9,
        action="handoff",
        reason=f"secret_shared {MNEMONIC}",
        citations=[{"snippet": MNEMONIC}],
        handoff=HandoffRequest(
            reason="secret_shared",
            priority="urgent",
            summary=f"user pasted {MNEMONIC}",
            payload={"conversation": [{"role": "user", "text": question}], "suggested_reply": MNEMONIC},
        ),
    )
    store.record_feedback(saved.answer.id, "not_helpful", comment=MNEMONIC)
    assert saved.handoff is not None
    store.resolve_handoff(saved.handoff.id, final_reply=f"you sent {MNEMONIC}", agent="alice")
    content = db.content()
    assert MNEMONIC not in content
    assert " ".join(words[4:8]) not in content
    assert "[REDACTED:seed_phrase]" in content
    assert store.get_answer(saved.answer.id).question == (
        "my wallet is empty, my phrase is [REDACTED:seed_phrase] please help"
    )
    stored = store.get_handoff(saved.handoff.id)
    assert stored.payload["conversation"][0]["text"].count("[REDACTED:seed_phrase]") == 1
    assert stored.payload["suggested_reply"] == "[REDACTED:seed_phrase]"


def test_a_private_key_is_redacted_but_a_hash_the_assistant_asked_for_is_kept(store: Store) -> None:
    key_question = f"私钥是 {HEX64}，能帮我导入吗"
    saved = ask(store, key_question, answer="请发一下交易哈希")
    assert HEX64 not in saved.answer.question
    # The reply to "please send the transaction hash" is a hash: the context says so.
    reply = ask(store, HEX64, conversation_id=saved.conversation.id)
    assert reply.answer.question == HEX64
    # Without that context a bare 64-hex string is taken for a key.
    alone = ask(store, HEX64)
    assert alone.answer.question == "[REDACTED:private_key]"


# --- feedback -----------------------------------------------------------------------------------


def test_feedback_on_an_answer(store: Store, clock: Clock) -> None:
    _, key = create_key(store, "app", "wallet")
    saved = ask(store)
    clock.advance()
    fb = store.record_feedback(saved.answer.id, "helpful", comment="thanks", api_key_id=key.id)
    assert (fb.kind, fb.comment, fb.final_text, fb.api_key_id, fb.created_at) == (
        "helpful",
        "thanks",
        None,
        key.id,
        clock.now,
    )
    store.record_feedback(saved.answer.id, "not_helpful")
    assert [f.kind for f in store.list_feedback(saved.answer.id)] == ["helpful", "not_helpful"]


def test_feedback_on_an_unknown_answer_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.record_feedback("no-such-answer", "helpful")
    with pytest.raises(NotFoundError):
        store.list_feedback("no-such-answer")


def test_feedback_checks_kind_and_final_text(store: Store, db: Database) -> None:
    answer_id = ask(store, mode="suggest").answer.id
    with pytest.raises(BadInputError, match="kind"):
        store.record_feedback(answer_id, "meh")  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="final_text"):
        store.record_feedback(answer_id, "edited")
    with pytest.raises(BadInputError, match="final_text"):
        store.record_feedback(answer_id, "edited", final_text="  ")
    with pytest.raises(BadInputError, match="final_text"):
        store.record_feedback(answer_id, "helpful", final_text="x")
    with pytest.raises(ConflictError):  # an API key that does not exist
        store.record_feedback(answer_id, "helpful", api_key_id=42)
    assert db.count("feedback") == 0


@pytest.mark.parametrize(
    ("kind", "final_text", "said"),
    [
        ("sent_as_is", None, ["提高矿工费后重试 [1]"]),
        ("edited", "您好，请提高矿工费后重新发送。", ["您好，请提高矿工费后重新发送。"]),
        ("discarded", None, []),
    ],
)
def test_what_an_agent_sends_joins_the_conversation(
    store: Store, kind: str, final_text: str | None, said: list[str]
) -> None:
    saved = ask(store, mode="suggest")
    fb = store.record_feedback(saved.answer.id, kind, final_text=final_text)  # type: ignore[arg-type]
    assert fb.final_text == final_text
    history = store.conversation_history(saved.conversation.id)
    assert [m.text for m in history if m.role == "assistant"] == said


# --- handoffs -----------------------------------------------------------------------------------


def test_save_answer_with_a_handoff_writes_both(store: Store, db: Database) -> None:
    saved = ask(
        store,
        action="handoff",
        lang="zh",
        handoff=HandoffRequest(
            reason="stolen_funds",
            priority="urgent",
            category="security",
            sentiment="angry",
            summary="用户称资产被盗",
            payload={"evidence": [{"source": "faq/security.md", "score": 0.7}], "suggested_reply": "您好"},
        ),
    )
    handoff = saved.handoff
    assert handoff is not None
    assert (handoff.status, handoff.priority, handoff.category, handoff.lang) == (
        "open",
        "urgent",
        "security",
        "zh",
    )
    assert handoff.answer_id == saved.answer.id
    assert handoff.payload["evidence"] == [{"source": "faq/security.md", "score": 0.7}]
    assert store.get_handoff(handoff.id) == handoff
    assert db.count("webhook_deliveries") == 0  # no webhook configured


def test_create_handoff_for_an_existing_conversation(store: Store) -> None:
    saved = ask(store)
    other = ask(store)
    conversation = saved.conversation.id
    handoff = store.create_handoff(conversation, HandoffRequest(reason="human_requested"), answer_id=saved.answer.id)
    assert (handoff.conversation_id, handoff.status, handoff.priority) == (conversation, "open", "normal")
    with pytest.raises(NotFoundError):
        store.create_handoff("nope", HandoffRequest(reason="r"))
    with pytest.raises(NotFoundError, match="answer"):
        store.create_handoff(conversation, HandoffRequest(reason="r"), answer_id=other.answer.id)
    with pytest.raises(NotFoundError):
        store.get_handoff("nope")


def test_handoff_state_machine(store: Store, clock: Clock) -> None:
    handoff = escalate(store)
    clock.advance()
    claimed = store.claim_handoff(handoff.id, agent="alice")
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == ("claimed", "alice", clock.now)
    with pytest.raises(ConflictError, match="claimed") as info:
        store.claim_handoff(handoff.id, agent="bob")
    assert info.value.code == "conflict"
    assert store.get_handoff(handoff.id).claimed_by == "alice"
    clock.advance()
    resolved = store.resolve_handoff(handoff.id, final_reply="已为您加速。", agent="alice")
    assert (resolved.status, resolved.final_reply, resolved.resolved_at) == (
        "resolved",
        "已为您加速。",
        clock.now,
    )
    assert resolved.claimed_at == claimed.claimed_at
    with pytest.raises(ConflictError, match="resolved"):
        store.resolve_handoff(handoff.id, final_reply="again", agent="alice")
    with pytest.raises(ConflictError, match="resolved"):
        store.claim_handoff(handoff.id, agent="bob")
    history = store.conversation_history(handoff.conversation_id)
    assert history[-1].text == "已为您加速。"


def test_an_open_handoff_can_be_resolved_directly(store: Store, clock: Clock) -> None:
    handoff = escalate(store)
    clock.advance()
    resolved = store.resolve_handoff(handoff.id, final_reply="done", agent="bob")
    assert (resolved.status, resolved.claimed_by, resolved.claimed_at) == ("resolved", "bob", clock.now)


def test_claim_and_resolve_check_their_input(store: Store) -> None:
    handoff = escalate(store)
    with pytest.raises(NotFoundError):
        store.claim_handoff("nope", agent="alice")
    with pytest.raises(NotFoundError):
        store.resolve_handoff("nope", final_reply="x", agent="alice")
    with pytest.raises(BadInputError, match="final_reply"):
        store.resolve_handoff(handoff.id, final_reply=" ", agent="alice")
    with pytest.raises(BadInputError, match="agent"):
        store.claim_handoff(handoff.id, agent="x" * 129)
    assert store.get_handoff(handoff.id).status == "open"


def test_of_agents_claiming_at_once_exactly_one_wins(store: Store, db: Database, clock: Clock) -> None:
    handoff = escalate(store)
    others = [make_store(db, clock) for _ in range(4)]

    def claim(n: int) -> str:
        try:
            others[n % 4].claim_handoff(handoff.id, agent=f"agent-{n}")
        except ConflictError:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(claim, range(16)))
    assert sorted(outcomes).count("won") == 1
    assert outcomes.count("conflict") == 15
    for other in others:
        other.close()


def _queue(store: Store, clock: Clock) -> dict[str, str]:
    """Five handoffs a second apart; returns name -> id."""
    ids = {}
    for name, priority in [
        ("n1", "normal"),
        ("u1", "urgent"),
        ("l1", "low"),
        ("h1", "high"),
        ("u2", "urgent"),
    ]:
        clock.advance()
        ids[name] = escalate(store, HandoffRequest(reason=name, priority=priority)).id  # type: ignore[arg-type]
    return ids


def test_list_handoffs_newest_first_with_filters_and_pages(store: Store, clock: Clock) -> None:
    ids = _queue(store, clock)
    names = {v: k for k, v in ids.items()}
    store.claim_handoff(ids["u1"], agent="alice")
    page = store.list_handoffs()
    assert [names[h.id] for h in page.items] == ["u2", "h1", "l1", "u1", "n1"]
    assert page.total == 5
    assert [names[h.id] for h in store.list_handoffs(status="open").items] == ["u2", "h1", "l1", "n1"]
    assert [names[h.id] for h in store.list_handoffs(priority="urgent").items] == ["u2", "u1"]
    both = store.list_handoffs(status=["open", "claimed"], priority=("urgent", "high"))
    assert [names[h.id] for h in both.items] == ["u2", "h1", "u1"]
    second = store.list_handoffs(limit=2, offset=2)
    assert ([names[h.id] for h in second.items], second.total) == (["l1", "u1"], 5)
    assert store.list_handoffs(offset=10).items == []


def test_list_handoffs_in_queue_order(store: Store, clock: Clock) -> None:
    ids = _queue(store, clock)
    names = {v: k for k, v in ids.items()}
    page = store.list_handoffs(order="priority")
    # Most urgent first; within a priority, the one waiting longest first.
    assert [names[h.id] for h in page.items] == ["u1", "u2", "h1", "n1", "l1"]


@pytest.mark.parametrize(
    "options",
    [
        {"status": "done"},
        {"priority": ["urgent", "p0"]},
        {"order": "oldest"},
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
    ],
)
def test_list_handoffs_rejects_bad_filters(store: Store, options: dict[str, object]) -> None:
    with pytest.raises(BadInputError):
        store.list_handoffs(**options)  # type: ignore[arg-type]


# --- metrics ------------------------------------------------------------------------------------


def test_counts(store: Store, clock: Clock) -> None:
    empty = store.counts()
    assert (empty.answers, empty.handoffs, empty.handoff_rate, empty.helpful_rate) == (0, 0, None, None)
    a = ask(store)
    ask(store, action="handoff", handoff=HandoffRequest(reason="r", priority="urgent"))
    ask(store, mode="suggest")
    store.record_feedback(a.answer.id, "helpful")
    clock.advance(3600)
    later = clock.now
    b = ask(store, action="handoff", handoff=HandoffRequest(reason="r"))
    assert b.handoff is not None
    store.claim_handoff(b.handoff.id, agent="alice")
    store.record_feedback(b.answer.id, "not_helpful")
    store.record_feedback(b.answer.id, "not_helpful")

    c = store.counts()
    assert (c.conversations, c.answers, c.handoffs, c.open_handoffs) == (4, 4, 2, 1)
    assert c.answers_by_mode == {"answer": 3, "suggest": 1}
    assert c.answers_by_action == {"answer": 2, "handoff": 2}
    assert c.handoffs_by_status == {"open": 1, "claimed": 1}
    assert c.handoffs_by_priority == {"urgent": 1, "normal": 1}
    assert c.feedback_by_kind == {"helpful": 1, "not_helpful": 2}
    assert c.handoff_rate == pytest.approx(2 / 3)
    assert c.helpful_rate == pytest.approx(1 / 3)

    recent = store.counts(since=later)
    assert (recent.answers, recent.handoffs, recent.open_handoffs) == (1, 1, 1)
    assert recent.handoff_rate == 1.0
    assert recent.helpful_rate == 0.0


# --- webhook outbox -----------------------------------------------------------------------------


def test_a_handoff_writes_its_delivery_in_the_same_transaction(hooked: Store, clock: Clock) -> None:
    handoff = escalate(hooked)
    [delivery] = hooked.deliveries_for(handoff.id)
    assert (delivery.url, delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        WEBHOOK,
        "pending",
        0,
        T0,
    )
    standalone = hooked.create_handoff(handoff.conversation_id, HandoffRequest(reason="again"))
    assert len(hooked.deliveries_for(standalone.id)) == 1


def test_due_deliveries_are_leased(hooked: Store, clock: Clock) -> None:
    handoff = escalate(hooked, HandoffRequest(reason="r", summary="s"))
    [due] = hooked.due_deliveries()
    assert due.handoff == handoff
    assert hooked.due_deliveries() == []  # leased to the first caller
    clock.advance(hooked.retry.lease.total_seconds())
    [again] = hooked.due_deliveries()  # the first caller died: the lease ran out
    assert again.delivery.id == due.delivery.id
    delivered = hooked.mark_delivered(due.delivery.id)
    assert (delivered.status, delivered.attempts) == ("delivered", 1)
    assert hooked.mark_delivered(due.delivery.id) == delivered  # idempotent
    clock.advance(10_000)
    assert hooked.due_deliveries() == []
    with pytest.raises(ConflictError):
        hooked.mark_failed(due.delivery.id, "late")
    with pytest.raises(NotFoundError):
        hooked.mark_delivered(404)
    with pytest.raises(BadInputError):
        hooked.due_deliveries(limit=0)


def test_failed_deliveries_back_off_then_give_up(db: Database, clock: Clock) -> None:
    policy = RetryPolicy(max_attempts=4, base=timedelta(seconds=30), cap=timedelta(seconds=100))
    store = make_store(db, clock, webhook_url=WEBHOOK, retry=policy)
    ask(store, handoff=HandoffRequest(reason="r"))
    waits = []
    for attempt in range(1, 5):
        [due] = store.due_deliveries()
        failed = store.mark_failed(due.delivery.id, f"HTTP 503 (attempt {attempt}), seed {MNEMONIC}")
        assert failed.attempts == attempt
        assert MNEMONIC not in (failed.last_error or "")
        if failed.status == "failed":
            break
        waits.append((failed.next_attempt_at - clock.now).total_seconds())
        clock.advance(waits[-1] - 1)
        assert store.due_deliveries() == []  # not yet
        clock.advance(1)
    assert waits == [30, 60, 100]
    assert failed.status == "failed"
    assert failed.last_error is not None and failed.last_error.startswith("HTTP 503 (attempt 4)")
    clock.advance(10_000)
    assert store.due_deliveries() == []
    assert store.counts().deliveries_by_status == {"failed": 1}
    store.close()


def test_due_deliveries_come_oldest_first_up_to_the_limit(hooked: Store, clock: Clock) -> None:
    handoffs = []
    for _ in range(3):
        handoffs.append(escalate(hooked).id)
        clock.advance()
    assert [d.handoff.id for d in hooked.due_deliveries(limit=2)] == handoffs[:2]
    assert [d.handoff.id for d in hooked.due_deliveries(limit=2)] == handoffs[2:]


def test_due_deliveries_of_replicas_asking_at_once_go_to_one_each(db: Database, clock: Clock) -> None:
    replicas = [make_store(db, clock, webhook_url=WEBHOOK) for _ in range(4)]
    try:
        for _ in range(40):
            escalate(replicas[0])
        with ThreadPoolExecutor(max_workers=4) as pool:
            batches = list(pool.map(lambda n: replicas[n % 4].due_deliveries(limit=3), range(24)))
        handed = [d.delivery.id for batch in batches for d in batch]
        assert len(handed) == len(set(handed)) == 40
    finally:
        for replica in replicas:
            replica.close()


def test_a_rate_bucket_in_the_database_is_shared_and_refills(db: Database) -> None:
    with make_store(db, Clock()) as one, make_store(db, Clock()) as two:
        taken = [s.take_token("key:1", per_minute=60, burst=3, now=1000.0) for s in (one, two, one, two)]
        assert taken[:3] == [0.0, 0.0, 0.0] and taken[3] == pytest.approx(1.0)
        assert one.take_token("key:2", per_minute=60, burst=3, now=1000.0) == 0.0  # its own bucket
        assert two.take_token("key:1", per_minute=60, burst=3, now=1000.5) == pytest.approx(0.5)
        assert two.take_token("key:1", per_minute=60, burst=3, now=1001.0) == 0.0
        # A long pause refills up to the burst, no more.
        assert [one.take_token("key:1", per_minute=60, burst=3, now=5000.0) for _ in range(4)][-1] > 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            waits = list(pool.map(lambda n: (one, two)[n % 2].take_token("key:3", per_minute=1, burst=5), range(16)))
        assert sum(w == 0.0 for w in waits) == 5


def test_retry_policy() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert policy.delay(1000) == policy.cap
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=5))


# --- errors -------------------------------------------------------------------------------------


def test_new_errors_fit_the_hierarchy() -> None:
    assert issubclass(NotFoundError, BadInputError)
    assert issubclass(ConflictError, BadInputError)
    assert issubclass(ForbiddenError, AuthError)
    assert issubclass(AuthError, KefuError)
    assert not issubclass(AuthError, BadInputError)
    codes = [e.code for e in (NotFoundError, ConflictError, AuthError, ForbiddenError)]
    assert codes == ["not_found", "conflict", "unauthorized", "forbidden"]


def test_store_from_settings(tmp_path: Path) -> None:
    from kefu.settings import Settings

    settings = Settings.from_env({"KEFU_DATA_DIR": str(tmp_path), "KEFU_WEBHOOK_URL": WEBHOOK})
    with Store.from_settings(settings) as store:
        store.migrate()
        assert store.webhook_url == WEBHOOK
        assert (tmp_path / "kefu.db").is_file()
