"""Trace events: a tiny API flows call to put one business step on an order's timeline.

``record_event(ledger, ref=..., kind=...)`` is idempotent per (ref, kind, document): a
retried run records the step once. ``hub trace`` merges these with what it derives from
the journal, bindings and interchanges, so flows only need to call it for steps the ledger
does not already show (see ``KINDS``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from hub.ledger import Ledger, utcnow
from hub.ops import tables as ot

# the kinds the trace knows how to title; any other string is shown as it is
KINDS: dict[str, str] = {
    "interchange.received": "interchange received",
    "contrl.sent": "CONTRL sent",
    "sale.created": "sale created in the ERP",
    "ordrsp.sent": "ORDRSP sent",
    "aperak.sent": "APERAK sent",
    "shipment.booked": "shipment booked at the carrier",
    "label.archived": "label archived",
    "tracking.status": "carrier status",
    "desadv.sent": "DESADV sent",
    "invoice.posted": "invoice posted in the ERP",
    "invoic.sent": "INVOIC sent",
    "crm.deal": "CRM deal updated",
    "crm.deal.invoice": "CRM deal invoice status",
}


@dataclass(frozen=True)
class Event:
    """One recorded step of a business reference's life."""

    ref: str
    kind: str
    at: datetime
    flow: str | None = None
    system: str | None = None
    partner: str | None = None
    state: str | None = None
    document: str | None = None
    detail: dict[str, Any] | None = None


def record_event(
    ledger: Ledger,
    *,
    ref: str,
    kind: str,
    flow: str | None = None,
    system: str | None = None,
    partner: str | None = None,
    state: str | None = None,
    document: str | None = None,
    detail: dict[str, Any] | None = None,
    refs: tuple[str, ...] = (),
    conn: Connection | None = None,
) -> None:
    """Record a step under ``ref`` (and any ``refs`` that should find it too), once."""
    now = utcnow()
    rows = []
    for one in dict.fromkeys((ref, *refs)):
        rows.append(
            {
                "ref": one,
                "kind": kind,
                "flow": flow,
                "system": system,
                "partner": partner,
                "state": state,
                "document": document,
                "detail": json.dumps(detail, sort_keys=True, default=str) if detail else None,
                "at": now,
            }
        )
    if conn is not None:
        _insert_new(conn, rows)
        return
    with ledger.transaction() as c:
        _insert_new(c, rows)


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> None:
    e = ot.events
    for row in rows:
        seen = conn.execute(
            select(e.c.id).where(
                e.c.ref == row["ref"],
                e.c.kind == row["kind"],
                e.c.document.is_(None)
                if row["document"] is None
                else e.c.document == row["document"],
                e.c.state.is_(None) if row["state"] is None else e.c.state == row["state"],
            )
        ).first()
        if seen is None:
            conn.execute(insert(e).values(**row))


def events_for(ledger: Ledger, refs: set[str]) -> list[Event]:
    """Every event recorded under one of ``refs``, oldest first."""
    if not refs:
        return []
    e = ot.events
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(e).where(e.c.ref.in_(sorted(refs))).order_by(e.c.at, e.c.id))
        seen: dict[tuple[Any, ...], Any] = {}  # one step recorded under several refs: once
        for r in rows:
            seen.setdefault((r.kind, r.flow, r.document, r.state, r.detail, r.at), r)
        return [
            Event(
                ref=r.ref,
                kind=r.kind,
                at=r.at,
                flow=r.flow,
                system=r.system,
                partner=r.partner,
                state=r.state,
                document=r.document,
                detail=json.loads(r.detail) if r.detail else None,
            )
            for r in seen.values()
        ]
