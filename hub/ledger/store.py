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

from hub.ledger.bindings import Binding, BindingStore
from hub.ledger.control_numbers import ControlNumberStore
from hub.ledger.cursors import CursorStore
from hub.ledger.dead_letters import DeadLetterStore
from hub.ledger.engine import make_engine
from hub.ledger.interchanges import InterchangeStore
from hub.ledger.journal import JournalStore
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

    def dispose(self) -> None:
        """Stop the heartbeat and close pooled connections."""
        self.stop_heartbeat()
        self.engine.dispose()
