"""`hub reconcile`: what the ERP holds against what the other systems received, per entity.

Per section: counts and an aggregate content hash on each side (SHA-256 over the sorted
per-record hashes) and every difference by record. A section whose flow never ran (no
journal entries, bindings or cursor) is reported as ``inactive`` with no differences.

- ``erp.sales``: sales the inbound EDI flow created (``SaleKey`` journal entries done) against
  the ERP's sales (reference, party, lines).
- ``crm.deals``: ERP sales against the CRM deals bound in the ledger (payload hash).
- ``carrier.shipments``: what the carrier itself holds against the ERP shipments and their
  tracking (``hub.ops.reconcile_carrier``); when the carrier cannot be asked, the hub's own
  bookings (bindings), with a ``carrier_unreachable`` difference.
- ``crm.companies``: ERP parties against the CRM companies bound to them, read from the CRM
  by CRM id: the hash of the ERP-owned properties on each side (``changed_in_crm`` when a
  CRM user changed one behind the hub's back, ``stale_in_crm`` when the ERP changed since
  the last push, ``missing_in_crm`` for a party never pushed or a company deleted), and
  CRM-owned properties changed in the CRM but not pulled yet (``not_pulled``).
- ``crm.contacts``: the ERP parties' contact persons against the bound CRM contacts the
  same way (contacts are CRM-owned after their creation, so mostly presence and
  ``not_pulled``).
- ``edi.<DESADV|INVOIC>:<partner>``: ERP records the outbound flow already passed (up to
  its cursor) against the documents sent (journal done, archived bytes with that hash);
  records held in an open dead letter are listed as differences of kind ``dead_letter``.
- ``einvoice``: ERP invoices of e-invoice customers against the delivered documents
  (``hub.ops.reconcile_einvoice``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hub.bootstrap import Hub
from hub.ledger import Binding
from hub.ops import acks as ack_ops
from schemas.errors import HubError
from schemas.model import content_hash
from transforms.keys import DocumentKey, KeyKind


def _aggregate(hashes: dict[str, str]) -> str:
    text = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _diff(record: str, kind: str, detail: str) -> dict[str, Any]:
    return {"record": record, "kind": kind, "detail": detail}


def _section(
    name: str,
    left: str,
    right: str,
    lh: dict[str, str],
    rh: dict[str, str],
    diffs: list[dict[str, Any]],
    *,
    active: bool = True,
) -> dict[str, Any]:
    return {
        "section": name,
        "active": active,
        "systems": [left, right],
        "counts": {left: len(lh), right: len(rh)},
        "hashes": {left: _aggregate(lh), right: _aggregate(rh)},
        "differences": diffs,
    }


def _num(value: object) -> str:
    """A quantity or price in one spelling ("2", "2.0" and "2.000" are equal)."""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


def _sale_hash(reference: str, party: str, lines: list[tuple[str, str, str]]) -> str:
    return content_hash({"reference": reference, "party": party, "lines": sorted(lines)})


def _sales(hub: Hub) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = hub.ledger.journal_find(KeyKind.SALE, state="done")
    recorded = {row["key"]: row["result"] for row in rows if row["result"]}
    if not recorded:
        return _section("erp.sales", "hub", "erp", {}, {}, [], active=False), {}
    by_id = {str(r["erp_id"]): (k, r) for k, r in recorded.items() if r.get("erp_id")}
    erp_sales = {s.erp_id: s for s in hub.erp.get_sales(sorted(by_id))}
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    for erp_id, (key, res) in sorted(by_id.items()):
        lines = [
            (str(x.get("product_code")), _num(x.get("quantity")), _num(x.get("unit_price")))
            for x in res.get("lines", [])
        ]
        left[key] = _sale_hash(res.get("reference", ""), str(res.get("party_erp_id")), lines)
        sale = erp_sales.get(erp_id)
        if sale is None:
            diffs.append(
                {
                    "record": key,
                    "kind": "missing_in_erp",
                    "detail": f"ERP sale id {erp_id} ({res.get('number')}) not found",
                }
            )
            continue
        right[key] = _sale_hash(
            sale.reference,
            sale.party_erp_id,
            [(x.product_code, _num(x.quantity), _num(x.unit_price)) for x in sale.lines],
        )
        if right[key] != left[key]:
            diffs.append(
                {
                    "record": key,
                    "kind": "changed_in_erp",
                    "detail": f"sale {sale.number}: reference, party or lines differ from "
                    "what the hub created (changed in the ERP since)",
                }
            )
    return _section("erp.sales", "hub", "erp", left, right, diffs), erp_sales


def _deals(hub: Hub, erp_sales: dict[str, Any]) -> dict[str, Any]:
    bound = hub.ledger.bindings_for("crm", "deal")
    if not bound:
        return _section("crm.deals", "erp", "crm", {}, {}, [], active=False)
    from hub.flows.crm_config import load_config
    from transforms import crm_mapping as m

    cfg = load_config()
    missing = sorted(set(bound) - set(erp_sales))
    for sale in hub.erp.get_sales(missing) if missing else []:
        erp_sales[sale.erp_id] = sale
    companies = hub.ledger.bindings_for("crm", "company")
    left: dict[str, str] = {}
    right = {erp_id: b.content_hash or "" for erp_id, b in bound.items()}
    diffs: list[dict[str, Any]] = []
    for erp_id, sale in sorted(erp_sales.items()):
        payload = m.deal_payload(sale, cfg)
        if payload is None or sale.party_erp_id not in companies:
            continue  # the push sends no deal for it (yet)
        left[erp_id] = m.payload_hash(payload)
        b = bound.get(erp_id)
        if b is None:
            diffs.append(
                {
                    "record": f"sale {sale.number}",
                    "kind": "missing_in_crm",
                    "detail": "no CRM deal bound: run crm_push",
                }
            )
        elif b.content_hash != left[erp_id]:
            diffs.append(
                {
                    "record": f"sale {sale.number}",
                    "kind": "stale_in_crm",
                    "detail": f"deal {b.external_id} has older content: run crm_push",
                }
            )
    for erp_id in sorted(set(bound) - set(erp_sales)):
        diffs.append(
            {
                "record": f"sale id {erp_id}",
                "kind": "missing_in_erp",
                "detail": f"CRM deal {bound[erp_id].external_id} has no ERP sale",
            }
        )
    return _section("crm.deals", "erp", "crm", left, right, diffs)


@dataclass
class _CrmSide:
    """What the party sections compare: ERP parties, bindings and the CRM's records."""

    cfg: Any
    parties: dict[str, Any]
    companies: dict[str, Binding]
    pulled: dict[str, Binding]
    contacts: dict[str, Binding]
    found: dict[str, Any]
    people: dict[str, Any]
    keys: dict[str, tuple[str, ...]]


def _crm_side(hub: Hub, companies: dict[str, Binding]) -> _CrmSide:
    from hub.flows.crm_config import load_config
    from transforms import crm_mapping as m

    cfg = load_config()
    crm = hub.crm
    keys = {
        "erp": m.properties_of(cfg.companies, "erp", m.COMPANY_PROPERTY),
        "crm": m.properties_of(cfg.companies, "crm", m.COMPANY_PROPERTY),
        "c_erp": m.properties_of(cfg.contacts, "erp", m.CONTACT_PROPERTY),
        "c_crm": m.properties_of(cfg.contacts, "crm", m.CONTACT_PROPERTY),
    }
    contacts = hub.ledger.bindings_for("crm", "contact")
    return _CrmSide(
        cfg=cfg,
        parties={p.erp_id or "": p for p in hub.erp.parties_changed_since(None, limit=1_000_000)},
        companies=companies,
        pulled=hub.ledger.bindings_for("crm", "company.crm"),
        contacts=contacts,
        found=crm.read(
            "companies",
            [b.external_id for b in companies.values()],
            properties=[*keys["erp"], *keys["crm"]],
            by_id_property=False,
        ).found,
        people=crm.read(
            "contacts",
            [b.external_id for b in contacts.values()],
            properties=[*keys["c_erp"], *keys["c_crm"]],
            by_id_property=False,
        ).found,
        keys=keys,
    )


def _crm_parties(hub: Hub) -> list[dict[str, Any]]:
    """ERP parties vs CRM companies and their contact persons vs CRM contacts."""
    companies = hub.ledger.bindings_for("crm", "company")
    if not companies:
        return [
            _section("crm.companies", "erp", "crm", {}, {}, [], active=False),
            _section("crm.contacts", "erp", "crm", {}, {}, [], active=False),
        ]
    side = _crm_side(hub, companies)
    return [_companies(side), _contacts(side)]


def _company_diff(side: _CrmSide, erp_id: str, party: Any, rec: Any) -> dict[str, Any] | None:
    """How the CRM company differs in ERP-owned properties, or None when it does not."""
    from transforms import crm_mapping as m

    erp_keys = side.keys["erp"]
    payload = m.company_payload(party, side.cfg, seed=False)
    mine = m.payload_hash(payload, erp_keys)
    if m.payload_hash(rec.properties, erp_keys) == mine:
        return None
    b = side.companies[erp_id]
    changed = ", ".join(k for k in erp_keys if m.wire(rec.properties.get(k)) != payload.get(k, ""))
    if b.content_hash == mine:
        return _diff(
            f"party {erp_id}",
            "changed_in_crm",
            f"CRM company {b.external_id}: ERP-owned {changed} changed in the CRM behind the "
            "hub's back: crm_pull notices it, the next crm_push then restores the ERP's values",
        )
    return _diff(
        f"party {erp_id}",
        "stale_in_crm",
        f"CRM company {b.external_id}: {changed} changed since the last push (in the ERP, or "
        "in the CRM as crm_pull saw): run crm_push",
    )


def _companies(side: _CrmSide) -> dict[str, Any]:
    from transforms import crm_mapping as m

    erp_keys = side.keys["erp"]
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    for erp_id, party in sorted(side.parties.items()):
        left[erp_id] = m.payload_hash(m.company_payload(party, side.cfg, seed=False), erp_keys)
        b = side.companies.get(erp_id)
        rec = side.found.get(b.external_id) if b else None
        if b is None or rec is None:
            why = (
                f"{party.name}: not in the CRM (run crm_push, or see its dead letters)"
                if b is None
                else f"CRM company {b.external_id} not found (deleted in the CRM?)"
            )
            diffs.append(_diff(f"party {erp_id}", "missing_in_crm", why))
            continue
        right[erp_id] = m.payload_hash(rec.properties, erp_keys)
        if (found := _company_diff(side, erp_id, party, rec)) is not None:
            diffs.append(found)
        crm_side = side.pulled.get(erp_id)
        if crm_side is not None and crm_side.content_hash != m.payload_hash(
            rec.properties, side.keys["crm"]
        ):
            diffs.append(
                _diff(
                    f"party {erp_id}",
                    "not_pulled",
                    f"CRM company {b.external_id}: CRM-owned fields changed, not in the ERP "
                    "yet: run crm_pull",
                )
            )
    for erp_id in sorted(set(side.companies) - set(side.parties)):
        diffs.append(
            _diff(
                f"party {erp_id}",
                "missing_in_erp",
                f"CRM company {side.companies[erp_id].external_id} has no ERP party",
            )
        )
    return _section("crm.companies", "erp", "crm", left, right, diffs)


def _contacts(side: _CrmSide) -> dict[str, Any]:
    from transforms import crm_mapping as m

    c_erp_keys = side.keys["c_erp"]
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    for erp_id, party in sorted(side.parties.items()):
        if erp_id not in side.companies:
            continue  # listed with its company
        for person in m.contacts_of(party):
            key = m.contact_key(erp_id, person)
            payload = m.contact_payload(person, side.cfg, seed=False)
            left[key] = m.payload_hash(payload, c_erp_keys)
            b = side.contacts.get(key)
            found_rec = side.people.get(b.external_id) if b else None
            if b is None or found_rec is None:
                where = "not bound" if b is None else f"CRM contact {b.external_id} not found"
                diffs.append(_diff(f"contact {key}", "missing_in_crm", f"{person.name}: {where}"))
                continue
            right[key] = m.payload_hash(found_rec.properties, c_erp_keys)
            if right[key] != left[key]:
                diffs.append(
                    _diff(
                        f"contact {key}",
                        "changed_in_crm",
                        f"CRM contact {b.external_id}: ERP-owned fields differ",
                    )
                )
            elif b.content_hash != m.payload_hash(found_rec.properties, side.keys["c_crm"]):
                diffs.append(
                    _diff(
                        f"contact {key}",
                        "not_pulled",
                        f"CRM contact {b.external_id}: changed in the CRM, not in the ERP "
                        "yet: run crm_pull",
                    )
                )
    return _section("crm.contacts", "erp", "crm", left, right, diffs)


def _shipments(hub: Hub) -> dict[str, Any]:
    """The hub's own carrier bookings against the ERP (when the carrier cannot be asked)."""
    booked = hub.ledger.bindings_for("carrier", "shipment")  # erp_id -> tracking binding
    if not booked:
        return _section("carrier.shipments", "erp", "carrier", {}, {}, [], active=False)
    shipments = {s.erp_id: s for s in hub.erp.shipments_changed_since(None, limit=1_000_000)}
    left: dict[str, str] = {}
    right = {erp_id: b.external_id for erp_id, b in booked.items()}
    diffs: list[dict[str, Any]] = []
    for erp_id, b in sorted(booked.items()):
        shipment = shipments.get(erp_id)
        if shipment is None:
            diffs.append(
                {
                    "record": f"shipment id {erp_id}",
                    "kind": "missing_in_erp",
                    "detail": f"booked as {b.external_id} but not in the ERP",
                }
            )
            continue
        left[erp_id] = shipment.tracking_number or ""
        if shipment.tracking_number != b.external_id:
            diffs.append(
                {
                    "record": f"shipment {shipment.number}",
                    "kind": "tracking_differs",
                    "detail": f"carrier {b.external_id}, ERP "
                    f"{shipment.tracking_number or '(none)'}: replay the "
                    "write-back dead letter",
                }
            )
    return _section("carrier.shipments", "erp", "carrier", left, right, diffs)


def _carrier(hub: Hub) -> dict[str, Any]:
    """What the carrier itself holds against the ERP; when the carrier cannot be asked (not
    configured, down), the hub's own bookings with a difference that says so."""
    from hub.ops.reconcile_carrier import carrier_section

    try:
        return carrier_section(hub)
    except HubError as exc:
        section = _shipments(hub)
        if section["active"]:
            section["differences"].append(
                _diff(
                    "carrier",
                    "carrier_unreachable",
                    f"the carrier could not be asked ({exc}); compared with the hub's own "
                    "bookings only",
                )
            )
        return section


def _archived_as_sent(hub: Hub, partner: str, result: dict[str, Any]) -> bool:
    """The archived copy of a sent document exists and has the bytes that were sent."""
    row = hub.ledger.interchange(partner, "out", str(result.get("control_ref")))
    path = Path(row["archive_path"]) if row and row.get("archive_path") else None
    return (
        path is not None
        and path.is_file()
        and hashlib.sha256(path.read_bytes()).hexdigest() == result.get("sha256")
    )


def _outbound_section(
    hub: Hub,
    profile: Any,
    doc_type: str,
    upto: datetime | None,
    records: list[Any],
    open_letters: set[str],
) -> dict[str, Any]:
    """One partner's documents of one type: ERP records up to the cursor against sent ones."""
    from hub.flows.edi_outbound import partner_gln
    from transforms import edifact_desadv as desadv_t

    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    for rec in records:
        if upto is None or rec.updated_at is None or rec.updated_at > upto:
            continue
        if not partner_gln(profile, rec.customer):
            continue
        if doc_type == "DESADV" and rec.state not in desadv_t.SHIPPED_STATES:
            continue
        key = DocumentKey(doc_type, profile.id, rec.erp_id)
        left[key.doc_key] = rec.number
        entry = hub.ledger.journal_entry(key)
        what = f"{doc_type} {rec.number}"
        if entry is None or entry["state"] != "done":
            kind = "dead_letter" if key.doc_key in open_letters else "not_sent"
            diffs.append(_diff(what, kind, f"{doc_type} for {rec.number} not sent to {profile.id}"))
            continue
        result = entry.get("result") or {}
        right[key.doc_key] = str(result.get("sha256"))
        if not _archived_as_sent(hub, profile.id, result):
            diffs.append(
                _diff(
                    what,
                    "archive_differs",
                    f"the archived copy of {result.get('file')} is missing or differs from "
                    "what was sent",
                )
            )
    return _section(f"edi.{doc_type}:{profile.id}", "erp", profile.id, left, right, diffs)


def _outbound(hub: Hub) -> list[dict[str, Any]]:
    from hub.flows.edi_outbound import stream_name

    cursors = hub.ledger.cursors()
    readers: dict[str, Callable[[], list[Any]]] = {
        "DESADV": lambda: hub.erp.shipments_changed_since(None, limit=1_000_000),
        "INVOIC": lambda: hub.erp.invoices_posted_since(None, limit=1_000_000),
    }
    records: dict[str, list[Any]] = {}
    open_letters = {
        d.record_key for d in hub.ledger.dead_letters(flow="edi_documents_outbound", limit=100_000)
    }
    out: list[dict[str, Any]] = []
    for profile in sorted(hub.partners.values(), key=lambda p: p.id):
        for doc_type, read in readers.items():
            stream = stream_name(doc_type, profile.id)
            if doc_type not in profile.outbound.documents or stream not in cursors:
                continue
            value = cursors[stream][0]
            upto = datetime.fromisoformat(value) if value else None
            if doc_type not in records:
                records[doc_type] = list(read())
            out.append(
                _outbound_section(hub, profile, doc_type, upto, records[doc_type], open_letters)
            )
    return out


def reconcile(hub: Hub) -> dict[str, Any]:
    """Every section and the total number of differences."""
    from hub.flows.crm_reconcile import crm_sections
    from hub.ops.reconcile_einvoice import einvoice_section

    sales, erp_sales = _sales(hub)
    sections = [
        sales,
        _deals(hub, dict(erp_sales)),
        *_crm_parties(hub),
        *crm_sections(hub),
        _carrier(hub),
        *_outbound(hub),
        einvoice_section(hub),
        ack_ops.reconcile_section(hub.ledger),
    ]
    total = sum(len(s["differences"]) for s in sections)
    return {"differences": total, "clean": total == 0, "sections": sections}
