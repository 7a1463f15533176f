"""The pieces of a table definition the migration scripts share.

Constraint names follow ``models.NAMING_CONVENTION`` and are marked final (``op.f``), so a
script builds the same names whatever metadata it runs against. Released migrations call
these: what each returns must never change (a new schema is a new migration), and nothing
here imports the models, which change after a migration is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """A time-zone-aware timestamp column: what ``models.UtcDateTime`` stores."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def primary_key(table: str, column: str = "id") -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(column, name=op.f(f"pk_{table}"))


def unique(table: str, column: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(column, name=op.f(f"uq_{table}_{column}"))


def check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def foreign_key(table: str, column: str, referred: str, *, ondelete: str) -> sa.ForeignKeyConstraint:
    """``table.column`` refers to ``referred.id``."""
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )
