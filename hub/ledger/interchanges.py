"""Interchanges: every EDI file received or sent, by partner, direction and control reference.

A repeated inbound reference is detected here (its first acknowledgement is sent again);
outbound interchanges keep their bytes' hash and archive path for a crash rerun.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.engine import Connection

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, translate_db_errors, utcnow


class InterchangeStore(LedgerBase):
    """Registration and state of interchanges."""

    # -- interchanges -------------------------------------------------------------------
    def record_interchange(
        self,
        partner: str,
        direction: str,
        control_ref: str,
        file_hash: str,
        *,
        file_name: str | None = None,
        state: str = "received",
    ) -> tuple[dict[str, Any], bool]:
        """Register an interchange; returns (row, is_new). A repeat returns the first row."""
        now = utcnow()
        with translate_db_errors(), self.engine.begin() as conn:
            is_new = insert_new(
                conn, t.interchanges, partner=partner, direction=direction,
                control_ref=control_ref, file_hash=file_hash, file_name=file_name, state=state,
                created_at=now, updated_at=now,
            )  # fmt: skip
            row = conn.execute(
                select(t.interchanges).where(*_ref(partner, direction, control_ref))
            ).one()
        return dict(row._mapping), is_new

    def update_interchange(
        self,
        partner: str,
        direction: str,
        control_ref: str,
        *,
        conn: Connection | None = None,
        **values: Any,
    ) -> None:
        """Set state/ack/archive_path/detail of a registered interchange."""
        values["updated_at"] = utcnow()
        with self._conn(conn) as c:
            c.execute(
                update(t.interchanges)
                .where(*_ref(partner, direction, control_ref))
                .values(**values)
            )

    def interchange(self, partner: str, direction: str, control_ref: str) -> dict[str, Any] | None:
        """One interchange row, if registered."""
        with self._read() as conn:
            row = conn.execute(
                select(t.interchanges).where(*_ref(partner, direction, control_ref))
            ).first()
        return dict(row._mapping) if row else None

    def interchanges_received(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        partner: str | None = None,
    ) -> list[dict[str, Any]]:
        """Inbound interchanges registered in [since, until), oldest first."""
        i = t.interchanges
        query = select(i).where(i.c.direction == "in", i.c.created_at >= since)
        if until is not None:
            query = query.where(i.c.created_at < until)
        if partner:
            query = query.where(i.c.partner == partner)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(i.c.id))]


def _ref(partner: str, direction: str, control_ref: str) -> list[ColumnElement[bool]]:
    """The conditions that name one interchange."""
    i = t.interchanges.c
    return [i.partner == partner, i.direction == direction, i.control_ref == control_ref]
