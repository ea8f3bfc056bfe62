"""`hub trace REF`: one order's timeline across every system, read from the ledger.

REF may be the partner's order number, the ERP sale number or id, a shipment number or a
carrier tracking number. The trace resolves it to the order's references, then collects:
the inbound interchange and its CONTRL/ORDRSP/APERAK (ack bytes kept on the interchange
row), the ERP sale (journal ``erp.sale:<gln>:<order>``), dead letters, the carrier booking
and statuses (journal ``carrier.shipment:`` / ``carrier.tracking:``), outbound DESADV and
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

from sqlalchemy import or_, select

from hub.bootstrap import Hub
from hub.ledger import tables as t
from hub.ops.events import KINDS, Event, events_for

SCAN_LIMIT = 5000  # interchanges scanned per direction and partner (newest first)
# kinds whose events replace what the trace would otherwise derive from journal/bindings
EVENT_FIRST = frozenset({"shipment.booked", "tracking.status", "crm.deal", "crm.deal.invoice"})
OUTBOUND_DOCS = frozenset({"desadv.sent", "invoic.sent", "invrpt.sent"})


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


def _json_like(name: str, value: str) -> str:
    """A LIKE pattern for ``"name": "value"`` in the ledger's sort_keys JSON."""
    return f'%"{name}": "{value}"%'


def _result(text: str | None) -> dict[str, Any]:
    data = json.loads(text) if text else None
    return data if isinstance(data, dict) else {}


def _resolve(hub: Hub, ref: str) -> tuple[Refs, list[Any]]:
    """Find the sale/shipment journal rows REF points at and collect the order's references."""
    refs = Refs(ref)
    j = t.journal
    with hub.ledger.engine.connect() as conn:
        sales = conn.execute(
            select(j).where(
                j.c.key.like("erp.sale:%"),
                or_(
                    j.c.key.like(f"erp.sale:%:{ref}"),
                    j.c.result.like(_json_like("number", ref)),
                    j.c.result.like(_json_like("erp_id", ref)),
                ),
            )
        ).all()
        ship_rows = conn.execute(
            select(j).where(
                j.c.key.like("carrier.shipment:%"),
                or_(
                    j.c.key == f"carrier.shipment:{ref}",
                    j.c.result.like(_json_like("tracking_number", ref)),
                    j.c.result.like(_json_like("erp_id", ref)),
                ),
            )
        ).all()
        bound = conn.execute(
            select(t.bindings).where(
                t.bindings.c.system == "edi.out",
                t.bindings.c.entity.like("desadv:%"),
                or_(t.bindings.c.external_id == ref, t.bindings.c.erp_id == ref),
            )
        ).all()
    for row in ship_rows:
        res = _result(row.result)
        refs.shipment_ids.add(str(res.get("erp_id") or ""))
    for b in bound:  # order number <-> shipment (recorded by the DESADV flow)
        refs.orders.add(b.external_id)
        refs.shipment_ids.add(b.erp_id)
    refs.shipment_ids.discard("")
    if refs.shipment_ids and not sales:
        with hub.ledger.engine.connect() as conn:
            for b in conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == "edi.out",
                    t.bindings.c.entity.like("desadv:%"),
                    t.bindings.c.erp_id.in_(sorted(refs.shipment_ids)),
                )
            ):
                refs.orders.add(b.external_id)
    with hub.ledger.engine.connect() as conn:
        if refs.orders and not sales:
            sales = conn.execute(
                select(j).where(
                    or_(*[j.c.key.like(f"erp.sale:%:{o}") for o in sorted(refs.orders)])
                )
            ).all()
        for row in sales:
            _, gln, order = row.key.split(":", 2)
            refs.orders.add(order)
            refs.glns.add(gln)
            refs.sale_keys.add(row.key)
            res = _result(row.result)
            if res.get("erp_id"):
                refs.sale_ids.add(str(res["erp_id"]))
            if res.get("number"):
                refs.sale_numbers.add(str(res["number"]))
        if refs.orders:
            for b in conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == "edi.out",
                    t.bindings.c.entity.like("desadv:%"),
                    t.bindings.c.external_id.in_(sorted(refs.orders)),
                )
            ):
                refs.shipment_ids.add(b.erp_id)
        if refs.shipment_ids:
            ship_rows = (
                conn.execute(
                    select(j).where(
                        j.c.key.like("carrier.shipment:%"),
                        or_(
                            *[
                                j.c.result.like(_json_like("erp_id", s))
                                for s in sorted(refs.shipment_ids)
                            ]
                        ),
                    )
                ).all()
                or ship_rows
            )
    for row in ship_rows:
        res = _result(row.result)
        refs.shipment_numbers.add(row.key.split(":", 1)[1])
        if res.get("tracking_number"):
            refs.tracking.add(str(res["tracking_number"]))
    for profile in hub.partners.values():
        if profile.unb.partner_id in refs.glns:
            refs.partners.add(profile.id)
    return refs, [*sales, *ship_rows]


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


def _mentions(data: bytes, needles: set[str]) -> bool:
    return any(
        re.search(rb"[+:]" + re.escape(n.encode()) + rb"(?=['+:\r\n]|$)", data) for n in needles
    )


def _refs_with_events(hub: Hub, ref: str) -> tuple[Refs, list[Any], list[Event]]:
    """Resolve REF through the journal and bindings, then widen it by the recorded events
    (which name the order numbers of a tracking or invoice number) until nothing new."""
    refs, rows = _resolve(hub, ref)
    keys = {row.key for row in rows}
    for _ in range(3):  # order -> shipment/tracking -> other orders of that shipment
        new_orders = refs.learn(events_for(hub.ledger, refs.all()))
        if not new_orders:
            break
        for order in sorted(new_orders):
            more, more_rows = _resolve(hub, order)
            refs.merge(more)
            rows += [r for r in more_rows if r.key not in keys]
            keys |= {r.key for r in more_rows}
    return refs, rows, events_for(hub.ledger, refs.all())


def _interchanges(hub: Hub, refs: Refs, *, outbound: bool = True) -> list[dict[str, Any]]:
    """Inbound interchanges carrying the order and outbound ones naming it or its shipment."""
    out: list[dict[str, Any]] = []
    i = t.interchanges
    partners = sorted(refs.partners) or sorted(hub.partners)
    with hub.ledger.engine.connect() as conn:
        rows = conn.execute(
            select(i).where(i.c.partner.in_(partners)).order_by(i.c.id.desc()).limit(SCAN_LIMIT * 2)
        ).all()
    needles_in = refs.orders or {refs.query}
    # ERP numbers like "1" or "SO7" also occur as line numbers or quantities in other
    # documents: only numbers long enough to be unambiguous are searched for
    long_numbers = {n for n in refs.shipment_numbers | refs.sale_numbers if len(n) >= 6}
    needles_out = needles_in | long_numbers
    for row in reversed(rows):
        if row.direction != "in" and not outbound:
            continue  # the sent documents are known from events: no need to read archives
        path = Path(row.archive_path) if row.archive_path else None
        data = path.read_bytes() if path and path.is_file() else b""
        where = f"{row.partner}/{row.direction}/{row.control_ref}"
        if row.direction == "in":
            if not data or not _mentions(data, needles_in):
                continue
            out.append(
                _item(
                    row.created_at,
                    "interchange.received",
                    system="edi",
                    state=row.state,
                    source=f"interchange {where}",
                    summary=f"{row.file_name} from {row.partner}, interchange {row.control_ref}",
                    document={"path": str(path)},
                )
            )
            for doc in json.loads(row.ack or "[]"):
                body = base64.b64decode(doc["data"])
                if doc["type"] != "CONTRL" and not _mentions(body, needles_in):
                    continue
                out.append(
                    _item(
                        row.updated_at,
                        f"{doc['type'].lower()}.sent",
                        system="edi",
                        state="sent",
                        source=f"interchange {where} ack",
                        summary=f"{doc['type']} {doc['name']} to {row.partner}",
                        document={"outbox_file": doc["name"], "text": body.decode("latin-1")},
                    )
                )
        else:
            if not outbound or not data or not _mentions(data, needles_out):
                continue
            kind = (row.file_name or "").split("_", 1)[0].upper() or "DOCUMENT"
            out.append(
                _item(
                    row.updated_at,
                    f"{kind.lower()}.sent",
                    system="edi",
                    state=row.state,
                    source=f"interchange {where}",
                    summary=f"{kind} {row.file_name} to {row.partner} "
                    f"(interchange {row.control_ref})",
                    document={"path": str(path), "outbox_file": row.file_name},
                )
            )
    return out


def trace(hub: Hub, ref: str) -> dict[str, Any]:
    """The timeline of the order REF points at, oldest first."""
    refs, rows, events = _refs_with_events(hub, ref)
    recorded = {ev.kind for ev in events}
    items: list[dict[str, Any]] = []
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
    for row in rows:
        if row.key.startswith("carrier.shipment:") and "shipment.booked" in recorded:
            continue
        res = _result(row.result)
        if row.key.startswith("erp.sale:"):
            items.append(
                _item(
                    row.created_at,
                    "sale.created",
                    system="erp",
                    state=row.state,
                    source=f"journal {row.key}",
                    summary=f"order {row.ref} -> ERP sale {res.get('number')} "
                    f"(id {res.get('erp_id')}, {res.get('state')})"
                    + (f"; error: {row.error}" if row.error else ""),
                )
            )
        else:
            label = res.get("label_path")
            items.append(
                _item(
                    row.updated_at,
                    "shipment.booked",
                    system="carrier",
                    state=row.state,
                    source=f"journal {row.key}",
                    summary=f"shipment {res.get('shipment_number')} booked with "
                    f"{res.get('carrier')}: tracking {res.get('tracking_number')}"
                    + (f"; error: {row.error}" if row.error else ""),
                    document={"path": label} if label else None,
                )
            )
    j = t.journal
    with hub.ledger.engine.connect() as conn:
        if refs.tracking and "tracking.status" not in recorded:
            for row in conn.execute(
                select(j)
                .where(
                    or_(*[j.c.key.like(f"carrier.tracking:{n}:%") for n in sorted(refs.tracking)])
                )
                .order_by(j.c.created_at)
            ):
                res = _result(row.result)
                items.append(
                    _item(
                        row.created_at,
                        "tracking.status",
                        system="carrier",
                        state=res.get("status"),
                        source=f"journal {row.key}",
                        summary=f"{row.ref}: {res.get('status')} (last event "
                        f"{res.get('last_event')} at {res.get('last_event_at')})",
                    )
                )
        if refs.sale_ids:
            for b in conn.execute(
                select(t.bindings).where(
                    t.bindings.c.system == "crm",
                    t.bindings.c.entity.in_(("deal", "deal.invoice")),
                    t.bindings.c.erp_id.in_(sorted(refs.sale_ids)),
                )
            ):
                kind = "crm.deal" if b.entity == "deal" else "crm.deal.invoice"
                if kind in recorded:
                    continue
                items.append(
                    _item(
                        b.updated_at,
                        kind,
                        system="crm",
                        state="synced",
                        source=f"binding crm/{b.entity}/{b.external_id}",
                        summary=f"CRM deal {b.external_id} for sale {b.erp_id} "
                        f"(content {(b.content_hash or '')[:12]})",
                    )
                )
        dl = t.dead_letters
        needles = refs.orders | refs.shipment_numbers | refs.tracking | {ref}
        for d in conn.execute(
            select(dl).where(or_(*[dl.c.record_key.like(f"%:{n}") for n in sorted(needles)]))
        ):
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
    items.extend(_interchanges(hub, refs, outbound=not recorded & OUTBOUND_DOCS))
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
