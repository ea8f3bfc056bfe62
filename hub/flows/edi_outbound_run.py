"""One run of the outbound EDI flow: its report, routing to partners, and dead letters.

Shared by the per-document modules (``edi_outbound_desadv``, ``_invoic``, ``_invrpt``) and
the send step (``edi_outbound_send``); the flow itself is ``hub.flows.edi_outbound``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.engine import Connection

from hub.bootstrap import Hub
from hub.ledger import Cursor, Ledger
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from schemas.model import Invoice, Party, PartyRef, Shipment
from transforms.edifact_outbound import MissingField
from transforms.keys import DocumentKey

log = logging.getLogger(__name__)

FLOW = "edi_documents_outbound"

Record = Shipment | Invoice


@dataclass
class Settling:
    """A partner stream's cursor and the record being settled for that partner."""

    cursor: Cursor
    at: datetime | None
    record_id: str

    def commit(self, ledger: Ledger, conn: Connection, *, settled: bool) -> None:
        """Write the stream's position in a document's own transaction: the records settled
        before, and this one when the document ``settled`` it. A copy is moved, so a rolled
        back transaction leaves the run's cursor as it was."""
        position = replace(self.cursor, ties=set(self.cursor.ties))
        if settled:
            position.passed(self.at, self.record_id)
        position.commit(ledger, conn=conn)


@dataclass
class Run:
    """What one flow run has done so far (the report) and what it learnt (caches)."""

    hub: Hub
    report: dict[str, Any]
    transient: list[TransientError] = field(default_factory=list)
    parties: dict[str, Party] = field(default_factory=dict)
    would: dict[str, dict[str, list[Any]]] | None = None  # set: a dry run, nothing is written
    settling: Settling | None = None  # set while a stream's record is worked on

    def would_do(self, system: str, action: str, item: Any) -> None:
        """Record what a dry run would have done."""
        assert self.would is not None
        self.would.setdefault(system, {}).setdefault(action, []).append(item)

    def would_send(self, doc_type: str, what: str) -> None:
        """A dry run checked a document it would send."""
        self.would_do("edi", "send", what)
        self.count("would_send", doc_type)

    def count(self, key: str, doc_type: str | None = None) -> None:
        self.report[key] += 1
        if doc_type:
            per = self.report["by_type"].setdefault(doc_type, {})
            per[key] = per.get(key, 0) + 1

    def detail(self, profile: PartnerProfile, doc_type: str, outcome: str, **more: Any) -> None:
        """One line of the report's ``details``."""
        self.report["details"].append(
            {"partner": profile.id, "type": doc_type, **more, "outcome": outcome}
        )

    def sent_before(self, key: DocumentKey) -> dict[str, Any] | None:
        """The journal result of a document already sent (None when it was not)."""
        entry = self.hub.ledger.journal_entry(key)
        if entry is None or entry["state"] != "done":
            return None
        return entry.get("result") or {}


# -- routing ------------------------------------------------------------------------------


def partner_gln(profile: PartnerProfile, customer: PartyRef) -> str | None:
    """The customer's GLN if the customer is this partner's, else None (not this partner's)."""
    if customer.gln and customer.gln == profile.unb.partner_id:
        return customer.gln
    if customer.gln and customer.gln in profile.party_lookup:
        return customer.gln
    for gln, erp_id in profile.party_lookup.items():
        if customer.erp_id and customer.erp_id == erp_id:
            return customer.gln or gln
    return None


def gtin_by_code(profile: PartnerProfile) -> dict[str, str]:
    """Product code -> GTIN from the partner's ``product_lookup`` (where the ERP has none)."""
    return {code: gtin for gtin, code in profile.product_lookup.items()}


def our_gln(profile: PartnerProfile) -> str | None:
    """Our own GLN in this partner's interchanges (None when we are known by another id)."""
    return profile.unb.our_id if profile.unb.our_qualifier == "14" else None


def stamp(record: Record, fallback: date | None) -> datetime:
    """The document's preparation time: the record's last change (data, not the clock)."""
    if record.updated_at is not None:
        return record.updated_at.astimezone(UTC)
    return datetime.combine(fallback or date(2000, 1, 1), time(0, 0), tzinfo=UTC)


def trace_refs(
    orders: Sequence[str],
    *,
    sales: Sequence[str] = (),
    shipments: Sequence[str] = (),
    invoices: Sequence[str] = (),
    tracking: Sequence[str] = (),
) -> dict[str, Any]:
    """The references a sent document is traced under: order numbers first, then the rest."""
    refs = [r for r in (*orders, *sales, *shipments, *invoices, *tracking) if r]
    detail = {"orders": list(orders), "sales": list(sales), "shipments": list(shipments),
              "invoices": list(invoices), "tracking": list(tracking)}  # fmt: skip
    return {"refs": list(dict.fromkeys(refs)), "detail": detail}


# -- dead letters -------------------------------------------------------------------------


class Problems(PermanentError):
    """Several missing fields of one document, reported together."""

    def __init__(self, problems: list[MissingField]) -> None:
        super().__init__("; ".join(p.message for p in problems), system="edi")
        self.problems = problems


def dead_letter(
    run: Run, profile: PartnerProfile, doc_type: str, record: Record, exc: HubError
) -> None:
    """A document the record cannot make: one dead letter naming document, record, fields."""
    problems = exc.problems if isinstance(exc, Problems) else [exc]
    reason = "; ".join(str(p.message) for p in problems)
    key = DocumentKey(doc_type, profile.id, record.erp_id).doc_key
    if run.would is not None:
        run.would_do("ledger", "dead_letters", f"{key} ({record.number}): {reason}")
        run.count("dead_letters", doc_type)
        return
    run.hub.ledger.dead_letter(
        FLOW,
        key,
        reason,
        error_class=type(problems[0]).__name__,
        payload={
            "document": doc_type,
            "partner": profile.id,
            "record": record.number,
            "erp_id": record.erp_id,
            "updated_at": record.updated_at.isoformat() if record.updated_at else None,
            "missing": [p.field for p in problems if isinstance(p, MissingField)],
            "replay": "fix the data, then run the flow with since=<updated_at>",
        },
        system="edi",
        partner=profile.id,
    )
    run.count("dead_letters", doc_type)
    run.detail(profile, doc_type, "dead", record=record.number, reason=reason)
    log.warning("%s: dead letter %s: %s", FLOW, key, reason)
