"""Trace events: a tiny API flows call to put one business step on an order's timeline.

``record_event(ledger, ref=..., kind=...)`` is idempotent per (ref, kind, document): a
retried run records the step once. ``hub trace`` merges these with what it derives from
the journal, bindings and interchanges, so flows only need to call it for steps the ledger
does not already show (see ``KINDS``).
"""

from __future__ import annotations

from typing import Unpack

from sqlalchemy.engine import Connection

from hub.ledger import Ledger
from hub.ledger.ops_events import Event, EventFields

__all__ = ["KINDS", "Event", "events_for", "record_event"]

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
    "contrl.received": "partner's CONTRL received",
    "aperak.received": "partner's APERAK received",
    "ack.state": "acknowledgement state",
    "invoic.resent": "INVOIC re-sent (corrected)",
    "desadv.resent": "DESADV re-sent",
}


def record_event(
    ledger: Ledger,
    *,
    ref: str,
    kind: str,
    refs: tuple[str, ...] = (),
    conn: Connection | None = None,
    **fields: Unpack[EventFields],
) -> None:
    """Record a step under ``ref`` (and any ``refs`` that should find it too), once."""
    ledger.record_event(refs=(ref, *refs), kind=kind, conn=conn, **fields)


def events_for(ledger: Ledger, refs: set[str]) -> list[Event]:
    """Every event recorded under one of ``refs``, oldest first."""
    return ledger.events_for(refs)
