"""`hub trace REF`: one order's timeline across every system, read from the ledger.

REF may be the partner's order number, the ERP sale number or id, a shipment number or a
carrier tracking number. The trace resolves it to the order's references, then collects:
the inbound interchange and its CONTRL/ORDRSP/APERAK (ack bytes kept on the interchange
row), the ERP sale (journal entries of kind ``SaleKey``), dead letters, the carrier booking
and statuses (``BookingKey`` / ``TrackingKey`` entries), outbound DESADV and
INVOIC (outbound interchanges whose archived bytes name the order or shipment), CRM deal
bindings, and any events flows recorded with ``hub.ops.events.record_event``.

Events come first: the flows record bookings, labels, carrier statuses, DESADV/INVOIC/INVRPT
and CRM deals with the order, sale, shipment and tracking numbers they belong to, so a REF
known only to an event (e.g. a tracking number) still finds its order. Where events of a
kind exist for the order, the steps derived from the journal and bindings for that kind are
left out, and outbound archives are scanned only when no sent document was recorded as an
event (documents sent before the flows recorded events).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.bootstrap import Hub
from hub.ledger import Ledger
from hub.ops import acks as ack_ops
from hub.ops.deadletters import subject_of
from hub.ops.events import KINDS, Event, events_for
from transforms.keys import KeyKind

SCAN_LIMIT = 5000  # interchanges scanned per direction and partner (newest first)
# kinds whose events replace what the trace would otherwise derive from journal/bindings
EVENT_FIRST = frozenset({"shipment.booked", "tracking.status", "crm.deal", "crm.deal.invoice"})
OUTBOUND_DOCS = frozenset({"desadv.sent", "invoic.sent", "invrpt.sent"})
Row = dict[str, Any]  # a journal entry as ``journal_find`` returns it


@dataclass
class Refs:
    """What the trace knows about the order so far."""

    query: str
    orders: set[str] = field(default_factory=set)
    glns: set[str] = field(default_factory=set)
    sale_keys: set[str] = field(default_factory=set)
    sale_ids: set[str] = field(default_factory=set)
    sale_numbers: set[str] = field(default_factory=set)
    shipment_ids: set[str] = field(default_factory=set)
    shipment_numbers: set[str] = field(default_factory=set)
    tracking: set[str] = field(default_factory=set)
    partners: set[str] = field(default_factory=set)

    def all(self) -> set[str]:
        """Every known reference (to find recorded events)."""
        return (
            {self.query} | self.orders | self.sale_numbers | self.shipment_numbers | self.tracking
        )

    def merge(self, other: Refs) -> None:
        """Add what resolving another of the order's numbers found."""
        for name in ("orders", "glns", "sale_keys", "sale_ids", "sale_numbers", "shipment_ids",
                     "shipment_numbers", "tracking", "partners"):  # fmt: skip
            getattr(self, name).update(getattr(other, name))

    def learn(self, events: list[Event]) -> set[str]:
        """Take the numbers events name (detail lists); returns order numbers new to us."""
        new: set[str] = set()
        for ev in events:
            detail = ev.detail or {}
            orders = {str(o) for o in detail.get("orders") or [] if o}
            new |= orders - self.orders
            self.orders |= orders
            self.sale_numbers |= {str(x) for x in detail.get("sales") or [] if x}
            self.shipment_numbers |= {str(x) for x in detail.get("shipments") or [] if x}
            self.tracking |= {str(x) for x in detail.get("tracking") or [] if x}
            if ev.partner:
                self.partners.add(ev.partner)
        return new

    def take_sales(self, sales: list[Row]) -> None:
        """The order, buyer GLN, ERP id and number of each sale entry."""
        for row in sales:
            self.orders.add(row["subject"])
            self.glns.add(row["scope"])
            self.sale_keys.add(row["key"])
            res = _result(row)
            if res.get("erp_id"):
                self.sale_ids.add(str(res["erp_id"]))
            if res.get("number"):
                self.sale_numbers.add(str(res["number"]))

    def take_bookings(self, bookings: list[Row]) -> None:
        """The shipment and tracking numbers of each booking entry."""
        for row in bookings:
            self.shipment_numbers.add(row["subject"])
            tracking = _result(row).get("tracking_number")
            if tracking:
                self.tracking.add(str(tracking))


def _result(row: Row) -> dict[str, Any]:
    data = row.get("result")
    return data if isinstance(data, dict) else {}


def _matching(ledger: Ledger, kind: KeyKind, ref: str, fields: tuple[str, ...]) -> list[Row]:
    """Entries of ``kind`` whose subject is ``ref`` or whose result has ``ref`` in a field."""
    rows = {row["key"]: row for row in ledger.journal_find(kind, subjects=[ref])}
    for row in ledger.journal_find(kind):
        if any(str(_result(row).get(name)) == ref for name in fields):
            rows.setdefault(row["key"], row)
    return list(rows.values())


def _desadv_bindings(hub: Hub, **ids: list[str]) -> list[Row]:
    """Order number <-> ERP shipment id, as the DESADV flow bound them per partner."""
    entities = [f"desadv:{partner}" for partner in sorted(hub.partners)]
    return hub.ledger.bindings_matching("edi.out", entities, **ids)


def _resolve(hub: Hub, ref: str) -> tuple[Refs, list[Row]]:
    """Find the sale/booking journal entries REF points at and collect the order's refs."""
    refs = Refs(ref)
    ledger = hub.ledger
    sales = _matching(ledger, KeyKind.SALE, ref, ("number", "erp_id"))
    bookings = _matching(ledger, KeyKind.BOOKING, ref, ("tracking_number", "erp_id"))
    refs.shipment_ids |= {str(_result(row).get("erp_id") or "") for row in bookings}
    for b in _desadv_bindings(hub, external_ids=[ref], erp_ids=[ref]):
        refs.orders.add(b["external_id"])
        refs.shipment_ids.add(b["erp_id"])
    refs.shipment_ids.discard("")
    if refs.shipment_ids and not sales:
        refs.orders |= {
            b["external_id"] for b in _desadv_bindings(hub, erp_ids=sorted(refs.shipment_ids))
        }
    if refs.orders and not sales:
        sales = ledger.journal_find(KeyKind.SALE, subjects=sorted(refs.orders))
    refs.take_sales(sales)
    if refs.orders:
        refs.shipment_ids |= {
            b["erp_id"] for b in _desadv_bindings(hub, external_ids=sorted(refs.orders))
        }
    if refs.shipment_ids:
        bookings = (
            ledger.journal_find(KeyKind.BOOKING, result_field=("erp_id", sorted(refs.shipment_ids)))
            or bookings
        )
    refs.take_bookings(bookings)
    for profile in hub.partners.values():
        if profile.unb.partner_id in refs.glns:
            refs.partners.add(profile.id)
    return refs, [*sales, *bookings]


def _item(
    at: datetime | None,
    kind: str,
    *,
    system: str,
    state: str | None,
    summary: str,
    document: dict[str, Any] | None = None,
    source: str,
) -> dict[str, Any]:
    return {
        "at": at.isoformat() if at else None,
        "kind": kind,
        "title": KINDS.get(kind, kind),
        "system": system,
        "state": state,
        "summary": summary,
        "document": document,
        "source": source,
    }


def _ack_item(item: dict[str, Any]) -> dict[str, Any]:
    """An outbound document's acknowledgement state as a timeline item."""
    at = datetime.fromisoformat(item["at"]) if item["at"] else None
    return _item(at, item["kind"], system="edi", state=item["state"],
                 summary=item["summary"], source=item["source"])  # fmt: skip


def _mentions(data: bytes, needles: set[str]) -> bool:
    return any(
        re.search(rb"[+:]" + re.escape(n.encode()) + rb"(?=['+:\r\n]|$)", data) for n in needles
    )


def _refs_with_events(hub: Hub, ref: str) -> tuple[Refs, list[Row], list[Event]]:
    """Resolve REF through the journal and bindings, then widen it by the recorded events
    (which name the order numbers of a tracking or invoice number) until nothing new."""
    refs, rows = _resolve(hub, ref)
    keys = {row["key"] for row in rows}
    for _ in range(3):  # order -> shipment/tracking -> other orders of that shipment
        new_orders = refs.learn(events_for(hub.ledger, refs.all()))
        if not new_orders:
            break
        for order in sorted(new_orders):
            more, more_rows = _resolve(hub, order)
            refs.merge(more)
            rows += [r for r in more_rows if r["key"] not in keys]
            keys |= {r["key"] for r in more_rows}
    return refs, rows, events_for(hub.ledger, refs.all())


# -- interchanges ------------------------------------------------------------------------------


def _inbound_items(row: Row, path: Path, data: bytes, needles: set[str]) -> list[dict[str, Any]]:
    """An inbound interchange carrying the order, and the acknowledgements sent for it."""
    if not data or not _mentions(data, needles):
        return []
    where = f"{row['partner']}/{row['direction']}/{row['control_ref']}"
    out = [
        _item(
            row["created_at"],
            "interchange.received",
            system="edi",
            state=row["state"],
            source=f"interchange {where}",
            summary=f"{row['file_name']} from {row['partner']}, interchange {row['control_ref']}",
            document={"path": str(path)},
        )
    ]
    for doc in json.loads(row["ack"] or "[]"):
        body = base64.b64decode(doc["data"])
        if doc["type"] != "CONTRL" and not _mentions(body, needles):
            continue
        out.append(
            _item(
                row["updated_at"],
                f"{doc['type'].lower()}.sent",
                system="edi",
                state="sent",
                source=f"interchange {where} ack",
                summary=f"{doc['type']} {doc['name']} to {row['partner']}",
                document={"outbox_file": doc["name"], "text": body.decode("latin-1")},
            )
        )
    return out


def _outbound_item(row: Row, path: Path) -> dict[str, Any]:
    """A document the hub sent that names the order or its shipment."""
    kind = (row["file_name"] or "").split("_", 1)[0].upper() or "DOCUMENT"
    return _item(
        row["updated_at"],
        f"{kind.lower()}.sent",
        system="edi",
        state=row["state"],
        source=f"interchange {row['partner']}/{row['direction']}/{row['control_ref']}",
        summary=f"{kind} {row['file_name']} to {row['partner']} (interchange {row['control_ref']})",
        document={"path": str(path), "outbox_file": row["file_name"]},
    )


def _interchanges(hub: Hub, refs: Refs, *, outbound: bool = True) -> list[dict[str, Any]]:
    """Inbound interchanges carrying the order and outbound ones naming it or its shipment."""
    out: list[dict[str, Any]] = []
    partners = sorted(refs.partners) or sorted(hub.partners)
    rows = hub.ledger.interchanges_of(partners, limit=SCAN_LIMIT * 2)
    needles_in = refs.orders or {refs.query}
    # ERP numbers like "1" or "SO7" also occur as line numbers or quantities in other
    # documents: only numbers long enough to be unambiguous are searched for
    long_numbers = {n for n in refs.shipment_numbers | refs.sale_numbers if len(n) >= 6}
    needles_out = needles_in | long_numbers
    for row in reversed(rows):
        inbound = row["direction"] == "in"
        if not inbound and not outbound:
            continue  # the sent documents are known from events: no need to read archives
        path = Path(row["archive_path"]) if row["archive_path"] else None
        data = path.read_bytes() if path and path.is_file() else b""
        if path is None or not data:
            continue
        if inbound:
            out += _inbound_items(row, path, data, needles_in)
        elif _mentions(data, needles_out):
            out.append(_outbound_item(row, path))
    return out


# -- the timeline --------------------------------------------------------------------------------


def _event_items(events: list[Event]) -> list[dict[str, Any]]:
    items = []
    for ev in events:
        detail = ev.detail or {}
        doc: dict[str, Any] | None = None
        if ev.document and "/" in ev.document:  # a file; other documents are just keys
            doc = {"path": ev.document}
            if detail.get("file"):
                doc["outbox_file"] = detail["file"]
        items.append(
            _item(
                ev.at,
                ev.kind,
                system=ev.system or "",
                state=ev.state,
                source=f"event {ev.flow or ''}",
                summary=str(detail.get("summary") or "")
                or (json.dumps(detail, sort_keys=True) if detail else ev.ref),
                document=doc,
            )
        )
    return items


def _journal_items(rows: list[Row], recorded: set[str]) -> list[dict[str, Any]]:
    """The sale created and the booking, from their journal entries."""
    items = []
    for row in rows:
        res = _result(row)
        document = None
        if row["kind"] == KeyKind.SALE:
            at, kind, system = row["created_at"], "sale.created", "erp"
            summary = (
                f"order {row['ref']} -> ERP sale {res.get('number')} "
                f"(id {res.get('erp_id')}, {res.get('state')})"
            )
        elif "shipment.booked" not in recorded:
            at, kind, system = row["updated_at"], "shipment.booked", "carrier"
            summary = (
                f"shipment {res.get('shipment_number')} booked with "
                f"{res.get('carrier')}: tracking {res.get('tracking_number')}"
            )
            label = res.get("label_path")
            document = {"path": label} if label else None
        else:
            continue
        error = f"; error: {row['error']}" if row["error"] else ""
        items.append(
            _item(
                at,
                kind,
                system=system,
                state=row["state"],
                source=f"journal {row['key']}",
                summary=summary + error,
                document=document,
            )
        )
    return items


def _tracking_items(ledger: Ledger, refs: Refs) -> list[dict[str, Any]]:
    items = []
    for row in ledger.journal_find(KeyKind.TRACKING, subjects=sorted(refs.tracking)):
        res = _result(row)
        items.append(
            _item(
                row["created_at"],
                "tracking.status",
                system="carrier",
                state=res.get("status"),
                source=f"journal {row['key']}",
                summary=f"{row['ref']}: {res.get('status')} (last event "
                f"{res.get('last_event')} at {res.get('last_event_at')})",
            )
        )
    return items


def _crm_items(ledger: Ledger, refs: Refs, recorded: set[str]) -> list[dict[str, Any]]:
    items = []
    for b in ledger.bindings_matching(
        "crm", ["deal", "deal.invoice"], erp_ids=sorted(refs.sale_ids)
    ):
        kind = "crm.deal" if b["entity"] == "deal" else "crm.deal.invoice"
        if kind in recorded:
            continue
        items.append(
            _item(
                b["updated_at"],
                kind,
                system="crm",
                state="synced",
                source=f"binding crm/{b['entity']}/{b['external_id']}",
                summary=f"CRM deal {b['external_id']} for sale {b['erp_id']} "
                f"(content {(b['content_hash'] or '')[:12]})",
            )
        )
    return items


def _letter_items(ledger: Ledger, needles: set[str]) -> list[dict[str, Any]]:
    items = []
    for d in ledger.dead_letters(state=None, limit=100_000):
        if subject_of(d.record_key) not in needles:
            continue
        items.append(
            _item(
                d.created_at,
                "dead_letter",
                system=d.system or "",
                state=d.state,
                source=f"dead letter #{d.id}",
                summary=f"{d.error_class}: {d.reason}"
                + (f" [{d.resolved_by}: {d.resolution}]" if d.resolved_by else ""),
            )
        )
    return items


def trace(hub: Hub, ref: str) -> dict[str, Any]:
    """The timeline of the order REF points at, oldest first."""
    refs, rows, events = _refs_with_events(hub, ref)
    recorded = {ev.kind for ev in events}
    items = _event_items(events) + _journal_items(rows, recorded)
    if refs.tracking and "tracking.status" not in recorded:
        items += _tracking_items(hub.ledger, refs)
    if refs.sale_ids:
        items += _crm_items(hub.ledger, refs, recorded)
    items += _letter_items(hub.ledger, refs.orders | refs.shipment_numbers | refs.tracking | {ref})
    items += _interchanges(hub, refs, outbound=not recorded & OUTBOUND_DOCS)
    items += [_ack_item(i) for i in ack_ops.trace_items(hub.ledger, refs.all())]
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        unique.setdefault((item["kind"], item["source"], item["summary"]), item)
    timeline = sorted(unique.values(), key=lambda x: (x["at"] or "", x["kind"]))
    return {
        "ref": ref,
        "found": bool(timeline),
        "orders": sorted(refs.orders),
        "sales": sorted(refs.sale_numbers),
        "shipments": sorted(refs.shipment_numbers),
        "tracking_numbers": sorted(refs.tracking),
        "partners": sorted(refs.partners),
        "timeline": timeline,
    }
