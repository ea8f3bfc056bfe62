"""Queries of inbound EDI: the interchanges received in a time window (backfill)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase


class InboundInterchangeQueries(LedgerBase):
    """Read-only queries over the interchanges table for the inbound EDI flow."""

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
