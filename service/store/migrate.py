"""Schema migrations (Alembic), run from code: no ``alembic.ini`` is needed at run time.

The migration scripts live in ``migrations/`` inside this package (shipped as package
data). To write a new one after changing ``models.py``::

    python -c "from service.store.migrate import new_revision; new_revision('add x', 'sqlite:///scratch.db')"

which upgrades the scratch database to head first and then autogenerates the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from service.store.engine import create_database_engine, writer

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock key held while migrating ("kefu" in ASCII).
MIGRATION_LOCK: Final = 0x6B656675


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at kefu's migrations (and at ``url``, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url:
        # The config is a ConfigParser: a "%" in the URL (an escaped password) must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(target: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``target`` (a URL or an engine) up to ``revision``.

    Idempotent: a database already there is left alone. All pending migrations run in
    one transaction (SQLite and PostgreSQL both roll DDL back) that first takes a lock
    (SQLite's write lock; a PostgreSQL advisory lock), so replicas starting at once
    migrate one after the other and the later ones find nothing left to do.
    """
    engine = create_database_engine(target) if isinstance(target, str) else target
    try:
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                # Released at commit or rollback.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision among kefu's migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def new_revision(message: str, scratch_url: str) -> None:
    """Autogenerate a migration script from the models (for developers, not at run time)."""
    upgrade_database(scratch_url)
    command.revision(alembic_config(scratch_url), message=message, autogenerate=True)
