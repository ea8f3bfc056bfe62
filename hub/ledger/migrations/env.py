"""Alembic environment for the ledger: runs online against the engine handed in by migrate.py."""

from __future__ import annotations

from alembic import context

from hub.ledger.tables import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
