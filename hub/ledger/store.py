"""The ledger: the hub's memory of every side effect, so retries and reruns repeat nothing.

One SQLAlchemy engine, SQLite file by default and PostgreSQL in production, the same SQL.
The ``Ledger`` is composed of one store per concern (bindings, journal, interchanges,
cursors, control numbers, dead letters, rate buckets, lease owners), each in its own
module, all sharing the engine and ``transaction()``, so a flow commits results, bindings,
dead letters and its cursor in one transaction.
"""

from __future__ import annotations

import os
import socket
import uuid

from hub.ledger.acks import AckStore
from hub.ledger.bindings import Binding, BindingStore
from hub.ledger.control_numbers import ControlNumberStore
from hub.ledger.cursors import CursorStore
from hub.ledger.dead_letters import DeadLetterStore
from hub.ledger.engine import make_engine
from hub.ledger.interchanges import InterchangeStore
from hub.ledger.journal import JournalStore
from hub.ledger.ops_drills import Drills
from hub.ledger.ops_events import EventStore
from hub.ledger.ops_queries import OpsQueries
from hub.ledger.ops_runs import RunStore
from hub.ledger.owners import OwnerStore
from hub.ledger.rate_buckets import RateBucketStore

__all__ = ["Binding", "Ledger"]


class Ledger(
    JournalStore,
    BindingStore,
    InterchangeStore,
    CursorStore,
    ControlNumberStore,
    DeadLetterStore,
    RateBucketStore,
    OwnerStore,
    RunStore,
    EventStore,
    OpsQueries,
    Drills,
    AckStore,
):
    """Bindings, journal, interchanges, cursors, control numbers, dead letters, budgets."""

    def __init__(self, url: str, *, echo: bool = False, owner: str | None = None):
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from hub.ledger.migrate import upgrade

        upgrade(self.engine)

    def revision(self) -> str | None:
        """The Alembic revision the database is at (None when never migrated)."""
        from hub.ledger.engine import translate_db_errors
        from hub.ledger.migrate import current

        with translate_db_errors():
            return current(self.engine)

    def downgrade(self, revision: str) -> None:
        """Migrate the schema down to ``revision`` (``base`` drops every table)."""
        from hub.ledger.migrate import downgrade

        downgrade(self.engine, revision)

    def table_names(self) -> list[str]:
        """The tables in the database (migration checks)."""
        from sqlalchemy import inspect

        return list(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        """Stop the heartbeat and close pooled connections."""
        self.stop_heartbeat()
        self.engine.dispose()
