"""A database under test, SQLite file or PostgreSQL, the raw looks tests take at it, and a
store on it with a clock the test moves."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from service.store import Store

#: Both backends, for ``pytest.fixture(params=BACKENDS)``.
BACKENDS = ("sqlite", "postgresql")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WEBHOOK = "https://hooks.example.com/kefu"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Database:
    """One empty database: its URL, and reads that bypass the store."""

    kind: Literal["sqlite", "postgresql"]
    url: str
    path: Path | None = None  # the SQLite file

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.path is not None:
            with sqlite3.connect(self.path) as raw:
                return raw.execute(sql).fetchall()
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {table}")[0][0])

    def execute(self, *statements: str) -> None:
        """Run raw SQL in one transaction, outside the store."""
        if self.path is not None:
            with sqlite3.connect(self.path) as raw:
                for statement in statements:
                    raw.execute(statement)
            return
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                for statement in statements:
                    connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def fail_inserts_into(self, table: str) -> None:
        """Make every INSERT into ``table`` fail with "boom", as a constraint violation would."""
        if self.kind == "sqlite":
            self.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'boom'); END")
            return
        self.execute(
            "CREATE OR REPLACE FUNCTION kefu_test_boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'check_violation'; END $$",
            f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION kefu_test_boom()",
        )

    def content(self) -> str:
        """Everything the database keeps, as text: the SQLite file and its WAL byte for
        byte, or every row of every PostgreSQL table."""
        if self.path is not None:
            data = b"".join(p.read_bytes() for p in self.path.parent.glob(self.path.name + "*"))
            return data.decode("utf-8", errors="replace")
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            tables = inspect(engine).get_table_names()
            with engine.connect() as connection:
                return "\n".join(
                    str(row[0])
                    for table in tables
                    for row in connection.execute(text(f"SELECT t::text FROM {table} t"))
                )
        finally:
            engine.dispose()


def make_database(request: pytest.FixtureRequest, kind: str, folder: Path) -> Database:
    """A new empty database of ``kind``: a SQLite file in ``folder``, or a database on the
    run's PostgreSQL server (the ``postgres`` fixture, only started when asked for)."""
    if kind == "sqlite":
        path = folder / "data" / "kefu.db"
        return Database("sqlite", f"sqlite:///{path}", path)
    server = request.getfixturevalue("postgres")
    return Database("postgresql", server.create_database())


def make_store(where: Database | Path, clock: Clock, **options: object) -> Store:
    """A migrated store on ``where`` (a database, or a SQLite file's path) keeping ``clock``'s time."""
    url = where.url if isinstance(where, Database) else f"sqlite:///{where}"
    store = Store(url, clock=clock, **options)  # type: ignore[arg-type]
    store.migrate()
    return store
