"""What is PostgreSQL's own: its errors, column types and locks.

The store's behaviour on PostgreSQL (every method, migrations, concurrency) is tested in
``test_store.py``, which runs each test on SQLite and on PostgreSQL; the server is the
``postgres`` fixture (a throw-away local cluster, or ``KEFU_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from kefu.errors import BackendUnavailableError
from service.store import Store
from tests.postgres import ExternalPostgres, LocalPostgres

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
