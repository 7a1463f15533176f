"""Alembic environment for kefu's store: the target schema is ``service.store.models``.

Run through :func:`service.store.migrate.upgrade_database` (no ``alembic.ini``): it passes
an open connection in ``config.attributes["connection"]``. With only a URL in the
config (``sqlalchemy.url``), this opens its own engine, or writes SQL in offline mode.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from service.store.engine import create_database_engine, writer
from service.store.models import Base

target_metadata = Base.metadata


def _run_migrations(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite alters a table by copying it; later migrations need batch mode for that.
        render_as_batch=True,
        **options,
    )
    # A no-op when the caller already began a transaction (every migration is then
    # part of it); otherwise one transaction around all pending migrations.
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _run_migrations(connection=connection, compare_type=True)


def run_offline() -> None:
    _run_migrations(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use service.store.upgrade_database")
    engine = create_database_engine(url)
    try:
        with writer(engine).connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
