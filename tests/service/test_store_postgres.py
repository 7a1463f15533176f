"""What is PostgreSQL's own: its errors, column types and locks.

The store's behaviour on PostgreSQL (every method, migrations, concurrency) is tested in
``test_store.py``, which runs each test on SQLite and on PostgreSQL; the server is the
``postgres`` fixture (a throw-away local cluster, or ``KEFU_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from kefu.errors import BackendUnavailableError
from service.store import HandoffRequest, Store
from tests.postgres import ExternalPostgres, LocalPostgres

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_backend_unavailable_and_its_password_is_not_shown() -> None:
    store = Store(f"postgresql+psycopg://kefu:s3cret-pw@127.0.0.1:{_closed_port()}/kefu")
    with pytest.raises(BackendUnavailableError, match="database") as info:
        store.migrate()
    assert "s3cret-pw" not in str(info.value)
    with pytest.raises(BackendUnavailableError):
        store.list_api_keys()
    store.close()


def test_timestamps_are_stored_with_their_time_zone(postgres: LocalPostgres | ExternalPostgres) -> None:
    with Store(postgres.create_database(), clock=lambda: T0) as store:
        store.migrate()
        with store.engine.connect() as connection:
            types = set(
                connection.execute(
                    text("SELECT DISTINCT data_type FROM information_schema.columns WHERE column_name LIKE '%\\_at'")
                ).scalars()
            )
            assert types == {"timestamp with time zone"}
            connection.execute(text("SET TIME ZONE 'Asia/Shanghai'"))
            saved = store.save_answer(question="q", answer="a", confidence=0.5, action="answer")
            assert store.get_answer(saved.answer.id).created_at == T0


def test_a_replica_leasing_deliveries_skips_the_rows_another_holds(postgres: LocalPostgres | ExternalPostgres) -> None:
    with Store(postgres.create_database(), webhook_url="https://hooks.example.com/k", clock=lambda: T0) as store:
        store.migrate()
        for _ in range(3):
            store.save_answer(
                question="q", answer="a", confidence=0.5, action="handoff", handoff=HandoffRequest(reason="r")
            )
        other = store.engine.connect()
        try:
            # Another replica is in the middle of leasing the oldest delivery.
            held = other.execute(text("SELECT id FROM webhook_deliveries ORDER BY id LIMIT 1 FOR UPDATE")).scalar_one()
            started = time.monotonic()
            leased = [d.delivery.id for d in store.due_deliveries()]
            assert time.monotonic() - started < 2  # not blocked by the other's lock
            assert held not in leased and len(leased) == 2
        finally:
            other.rollback()
            other.close()
        assert [d.delivery.id for d in store.due_deliveries()] == [held]
