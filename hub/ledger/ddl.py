"""The schema steps the ledger's alembic revisions share: tables, their keys and indexes.

Released revisions call these, so what they emit must never change: a new need is a new
function (or a parameter whose default keeps the old statements). The ledger tests run every
revision up, down and up again on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem


def create_table(name: str, *items: SchemaItem, key: Sequence[str] = ("id",)) -> None:
    """``op.create_table`` as autogenerate writes it: the columns, the primary key on ``key``
    named ``pk_<name>``, then the other constraints. A table keyed by ``id`` gets that
    autoincrement integer as its first column."""
    columns = [item for item in items if isinstance(item, sa.Column)]
    constraints = [item for item in items if not isinstance(item, sa.Column)]
    if tuple(key) == ("id",):
        columns.insert(0, sa.Column("id", sa.Integer(), autoincrement=True, nullable=False))
    primary = sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}"))
    op.create_table(name, *columns, primary, *constraints)


def create_indexes(table: str, indexes: dict[str, list[str]]) -> None:
    """Non-unique indexes on ``table`` (name: columns), in batch mode (SQLite-safe)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for index, columns in indexes.items():
            batch_op.create_index(index, columns, unique=False)


def drop_table(name: str, *indexes: str) -> None:
    """Drop ``indexes`` of table ``name`` (in batch mode, in the order given), then the table."""
    if indexes:
        with op.batch_alter_table(name, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
    op.drop_table(name)
