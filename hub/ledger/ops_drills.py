"""Drills: simulate what a restore from an older backup or the passing of time does to the
ledger (a lost journal entry or binding, older timestamps), for recovery tests and rehearsals.

Nothing in a flow calls these; tests and rehearsal scripts do, through the ledger, so they
never need its tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase
from transforms.keys import Key


class Drills(LedgerBase):
    """Forget records and move timestamps, as a restore or a long pause would."""

    def forget_journal_entry(self, key: Key | str) -> int:
        """Drop a journal entry (the hub "forgot" it did this); returns rows dropped."""
        with self.transaction() as conn:
            return int(conn.execute(delete(t.journal).where(t.journal.c.key == str(key))).rowcount)

    def forget_binding(self, system: str, entity: str, erp_id: str) -> int:
        """Drop the binding of one ERP record; returns rows dropped."""
        b = t.bindings
        with self.transaction() as conn:
            return int(
                conn.execute(
                    delete(b).where(
                        b.c.system == system, b.c.entity == entity, b.c.erp_id == erp_id
                    )
                ).rowcount
            )

    def backdate_journal_entry(
        self, key: Key | str, *, created: datetime, updated: datetime
    ) -> None:
        """Set when a journal entry was created and last changed."""
        with self.transaction() as conn:
            conn.execute(
                update(t.journal)
                .where(t.journal.c.key == str(key))
                .values(created_at=created, updated_at=updated)
            )

    def backdate_dead_letters(self, at: datetime, *, flow: str | None = None) -> None:
        """Set when the dead letters (of ``flow``, or all) were filed and last changed."""
        dl = t.dead_letters
        query = update(dl).values(created_at=at, updated_at=at)
        if flow is not None:
            query = query.where(dl.c.flow == flow)
        with self.transaction() as conn:
            conn.execute(query)
