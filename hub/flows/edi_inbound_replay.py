"""Inbound EDI outside the normal run: re-process one archived message (dead-letter replay),
re-sync the archived interchanges of a time window (backfill), and preview the inboxes
(dry run). All three reuse the inbound flow's own parsing, mapping and ledger steps.

Replay and backfill go through the same journal as the flow: an order already created is
found ``done`` and only reported; nothing is created or sent twice. The dry run reads
the ledger and the ERP but writes to neither, and leaves the inbox files where they are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub import edi_out
from hub.bootstrap import Hub
from hub.flows.edi_inbound import (
    FLOW,
    ParsedInterchange,
    PendingOrder,
    _check_and_create,
    _ordrsp,
    parse_file,
)
from hub.ledger import tables as t
from hub.ledger import utcnow
from hub.ops.events import record_event
from schemas.config import PartnerProfile
from schemas.errors import PermanentError
from schemas.model import Product
from transforms.edifact_orders import AppError, check_against_erp, orders_to_sales_order

log = logging.getLogger(__name__)


def _profile(hub: Hub, partner: str) -> PartnerProfile:
    profile = hub.partners.get(partner)
    if profile is None:
        raise PermanentError(
            f"partner {partner!r} has no profile in config/partners; known: "
            f"{', '.join(sorted(hub.partners))}",
            system="edi",
        )
    return profile


def _read_archive(path: str | None, what: str) -> bytes:
    if not path or not Path(path).is_file():
        raise PermanentError(
            f"{what}: the archived file {path or '(no path recorded)'} is missing; restore it "
            "from the backup of the hub's archive directory, then replay again",
            system="edi",
        )
    return Path(path).read_bytes()


def _find(
    parsed: list[ParsedInterchange], interchange_ref: str, message_ref: str
) -> tuple[ParsedInterchange, Any] | None:
    for ich in parsed:
        if ich.result.control_ref != interchange_ref:
            continue
        for msg, mres in ich.messages:
            if msg.ref == message_ref:
                return ich, (msg, mres)
    return None


def reprocess_message(
    hub: Hub,
    partner: str,
    archive_path: str,
    interchange_ref: str,
    message_ref: str,
    *,
    reopen: bool = True,
    send_acks: bool = True,
) -> dict[str, Any]:
    """Run one archived ORDERS message through mapping, ERP checks and the journaled create.

    Returns ``{"outcome": "created" | "existing" | "refused" | "test", "order", "sale", ...}``.
    A refusal re-files the flow's dead letter (same key: the open letter counts an attempt).
    ``reopen`` lets a journal entry the ERP refused earlier be attempted again (replay).
    Only an order created now gets its ORDRSP; one found done was answered the first time.
    """
    profile = _profile(hub, partner)
    what = f"{partner} interchange {interchange_ref} message {message_ref}"
    data = _read_archive(archive_path, what)
    _, parsed = parse_file(data, Path(archive_path).name, profile.charset_policy)
    found = _find(parsed, interchange_ref, message_ref)
    if found is None:
        raise PermanentError(
            f"{what}: not found in {archive_path}; check the interchange and message "
            "references in the dead letter's payload",
            system="edi",
        )
    ich, (msg, mres) = found
    if mres.errors:
        return _refuse(
            hub,
            profile,
            what,
            interchange_ref,
            msg.ref,
            msg.ref,
            [AppError(str(e.code), e.message) for e in mres.errors],
        )
    if ich.result.test:
        return {"outcome": "test", "message": msg.ref, "order": None}
    order, errors = orders_to_sales_order(
        msg.segments, source=f"{profile.id}:{Path(archive_path).name}:{interchange_ref}:{msg.ref}"
    )
    if order is None:
        return _refuse(hub, profile, what, interchange_ref, msg.ref, msg.ref, errors)
    key = f"erp.sale:{order.buyer.gln}:{order.order_number}"
    payload_hash = order.model_copy(update={"source": None}).content_hash()
    entry = hub.ledger.journal_entry(key)
    if reopen and entry is not None and entry["state"] in ("dead", "failed"):
        hub.ledger.reopen(key)
    item = PendingOrder(msg, order, key, payload_hash)
    _check_and_create(hub, profile, [item])
    if item.errors or item.sale is None:
        return _refuse(
            hub, profile, what, interchange_ref, msg.ref, order.order_number, item.errors
        )
    outcome: dict[str, Any] = {
        "outcome": "created" if item.created else "existing",
        "order": order.order_number,
        "sale": item.sale.number,
        "sale_erp_id": item.sale.erp_id,
        "documents_sent": 0,
    }
    if item.created:
        record_event(
            hub.ledger,
            ref=order.order_number,
            kind="sale.created",
            flow=FLOW,
            system="erp",
            partner=partner,
            state="done",
            detail={"sale": item.sale.number, "via": "replay"},
            refs=tuple(x for x in (item.sale.number,) if x),
        )
        if send_acks and profile.acknowledgements.ordrsp:
            ich_row = hub.ledger.interchange(partner, "in", interchange_ref)
            prepared: datetime = ich_row["created_at"] if ich_row else utcnow()
            doc = _ordrsp(hub, profile, item, prepared)
            outcome["documents_sent"] = int(edi_out.send(hub.mailbox(profile), doc))
            record_event(
                hub.ledger,
                ref=order.order_number,
                kind="ordrsp.sent",
                flow=FLOW,
                system="edi",
                partner=partner,
                state="sent",
                document=doc.file_name,
                detail={"control_ref": doc.control_ref},
            )
    return outcome


def _refuse(
    hub: Hub,
    profile: PartnerProfile,
    what: str,
    interchange_ref: str,
    message_ref: str,
    order_ref: str,
    errors: list[AppError],
) -> dict[str, Any]:
    text = "; ".join(e.message for e in errors) or "refused"
    hub.ledger.dead_letter(
        FLOW,
        f"order:{profile.id}:{order_ref}",
        f"{what} (order {order_ref}) refused again: {text}",
        error_class="ConflictError" if any(e.code == "DUP" for e in errors) else "OrderRefused",
        payload={
            "interchange": interchange_ref,
            "message": message_ref,
            "errors": [e.as_dict() for e in errors],
        },
        system="erp",
        partner=profile.id,
    )
    return {"outcome": "refused", "order": order_ref, "errors": [e.message for e in errors]}


def backfill(
    hub: Hub,
    *,
    since: datetime,
    until: datetime | None = None,
    partner: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Re-process every ORDERS message of the inbound interchanges received in [since, until).

    For a repaired mapping or a product added late: orders already created are found done
    in the journal and cost no write; orders refused then are tried again (an ORDRSP goes
    out for those created now, their open dead letter is closed as resolved). Mailboxes and
    cursors are not touched.
    """
    i = t.interchanges
    query = select(i).where(i.c.direction == "in", i.c.created_at >= since).order_by(i.c.id)
    if until is not None:
        query = query.where(i.c.created_at < until)
    if partner:
        query = query.where(i.c.partner == partner)
    with hub.ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    report: dict[str, Any] = {
        "status": "ok",
        "interchanges": 0,
        "messages": 0,
        "orders_created": 0,
        "orders_in_sync": 0,
        "orders_refused": 0,
        "missing_archives": 0,
        "details": [],
    }
    for row in rows:
        report["interchanges"] += 1
        path = row.get("archive_path")
        if not path or not Path(path).is_file():
            report["missing_archives"] += 1
            report["details"].append(
                {
                    "partner": row["partner"],
                    "interchange": row["control_ref"],
                    "outcome": f"archive missing: {path}",
                }
            )
            continue
        profile = _profile(hub, row["partner"])
        _, parsed = parse_file(Path(path).read_bytes(), Path(path).name, profile.charset_policy)
        for ich in parsed:
            if ich.result.control_ref != row["control_ref"]:
                continue
            for msg, _ in ich.messages:
                if not msg.type.startswith("ORDERS:"):
                    continue
                report["messages"] += 1
                if dry_run:
                    res = _preview_message(hub, profile, msg)
                else:
                    res = reprocess_message(
                        hub, profile.id, path, ich.result.control_ref, msg.ref, reopen=False
                    )
                    if res["outcome"] == "created":
                        _close_letters(hub, profile.id, res["order"], "backfill")
                kind = {
                    "created": "orders_created",
                    "create": "orders_created",
                    "refused": "orders_refused",
                }.get(res["outcome"], "orders_in_sync")
                report[kind] += 1
                report["details"].append(
                    {"partner": profile.id, "interchange": ich.result.control_ref, **res}
                )
    if report["orders_refused"] or report["missing_archives"]:
        report["status"] = "partial"
    return report


def _close_letters(hub: Hub, partner: str, order: str, by: str) -> None:
    for letter in hub.ledger.dead_letters(flow=FLOW, partner=partner):
        if letter.record_key == f"order:{partner}:{order}":
            hub.ledger.close_dead_letter(
                letter.id, "resolved", by=by, note="the order was created by a later re-sync"
            )


# -- dry run -----------------------------------------------------------------------------


def _preview_message(hub: Hub, profile: PartnerProfile, msg: Any) -> dict[str, Any]:
    """What the flow would do with one ORDERS message; reads the ERP and ledger only."""
    order, errors = orders_to_sales_order(msg.segments)
    if order is None:
        return {"outcome": "refused", "order": msg.ref, "errors": [e.message for e in errors]}
    erp = hub.erp
    gtins = sorted({line.gtin for line in order.lines if line.gtin})
    products: dict[str, Product] = erp.find_products_by_gtin(gtins) if gtins else {}
    mapped = {g: c for g, c in profile.product_lookup.items() if g in gtins and g not in products}
    if mapped:
        by_code = erp.find_products_by_code(sorted(set(mapped.values())))
        products.update({g: by_code[c] for g, c in mapped.items() if c in by_code})
    glns = sorted({r.gln for r in (order.buyer, order.delivery) if r is not None and r.gln})
    parties = erp.find_parties_by_gln(glns) if glns else {}
    known = {g for g, p in parties.items() if p.erp_id} | set(profile.party_lookup)
    problems = check_against_erp(
        order,
        products_by_gtin=products,
        known_party_glns=known,
        price_tolerance_percent=profile.price_tolerance_percent,
    )
    if problems:
        return {
            "outcome": "refused",
            "order": order.order_number,
            "errors": [e.message for e in problems],
        }
    key = f"erp.sale:{order.buyer.gln}:{order.order_number}"
    entry = hub.ledger.journal_entry(key)
    payload_hash = order.model_copy(update={"source": None}).content_hash()
    if entry is None:
        outcome = "create"
    elif entry["payload_hash"] != payload_hash:
        outcome = "refused"
    elif entry["state"] == "done":
        outcome = "existing"
    elif entry["state"] == "dead":
        outcome = "refused"
    else:
        outcome = "create"  # pending/failed: a run would attempt it (reconciling first)
    res: dict[str, Any] = {
        "outcome": outcome,
        "order": order.order_number,
        "key": key,
        "lines": len(order.lines),
    }
    if outcome == "refused":
        res["errors"] = [
            "same order number already received with different content"
            if entry and entry["payload_hash"] != payload_hash
            else "refused earlier; see the dead letters"
        ]
    return res


def preview_inbox(
    hub: Hub, *, partner: str | None = None, max_files: int | str = 200
) -> dict[str, Any]:
    """Dry run of edi_orders_inbound: validate and map the inbox files, decide per order,
    list what would be created, sent and dead-lettered, and write nothing anywhere."""
    report: dict[str, Any] = {
        "status": "dry_run",
        "flow": FLOW,
        "files": 0,
        "would_quarantine": 0,
        "would_create": 0,
        "already_done": 0,
        "would_refuse": 0,
        "duplicates": 0,
        "would": {"erp": {"create_sale": []}, "edi": {"send": []}, "ledger": {"dead_letters": []}},
        "details": [],
    }
    would = report["would"]
    profiles = [p for p in hub.partners.values() if p.active and partner in (None, p.id)]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    for profile in profiles:
        box = hub.mailbox(profile)
        for inbound in box.ready()[: int(max_files)]:
            report["files"] += 1
            name = inbound.name
            result, parsed = parse_file(box.read(name), name, profile.charset_policy)
            detail: dict[str, Any] = {
                "partner": profile.id,
                "file": name,
                "verdict": result.verdict,
                "orders": [],
            }
            senders = {
                (i.result.sender, i.result.sender_qualifier or profile.unb.partner_qualifier)
                for i in parsed
            }
            if (
                result.verdict == "quarantined"
                or not parsed
                or senders != {(profile.unb.partner_id, profile.unb.partner_qualifier)}
            ):
                report["would_quarantine"] += 1
                detail["verdict"] = "quarantined"
                would["ledger"]["dead_letters"].append(f"QuarantinedFile {profile.id}/{name}")
                report["details"].append(detail)
                continue
            for ich in parsed:
                ref = ich.result.control_ref
                seen = hub.ledger.interchange(profile.id, "in", ref)
                if seen is not None and seen["state"] == "done":
                    report["duplicates"] += 1
                    would["edi"]["send"].append(f"{profile.id}: acknowledgements of {ref} again")
                    would["ledger"]["dead_letters"].append(f"DuplicateInterchange {ref}")
                    continue
                has_errors = bool(ich.result.errors)
                for msg, mres in ich.messages:
                    if mres.errors or not msg.type.startswith("ORDERS:"):
                        has_errors = has_errors or bool(mres.errors)
                        continue
                    res = _preview_message(hub, profile, msg)
                    detail["orders"].append(res)
                    if res["outcome"] == "create":
                        report["would_create"] += 1
                        would["erp"]["create_sale"].append(f"{profile.id}: order {res['order']}")
                        if profile.acknowledgements.ordrsp:
                            would["edi"]["send"].append(f"{profile.id}: ORDRSP {res['order']}")
                    elif res["outcome"] == "existing":
                        report["already_done"] += 1
                    else:
                        report["would_refuse"] += 1
                        would["ledger"]["dead_letters"].append(
                            f"OrderRefused {profile.id}:{res['order']}: {'; '.join(res['errors'])}"
                        )
                        if profile.acknowledgements.aperak:
                            would["edi"]["send"].append(f"{profile.id}: APERAK {res['order']}")
                policy = profile.acknowledgements.contrl
                if policy == "always" or (policy == "on_error" and has_errors):
                    would["edi"]["send"].insert(0, f"{profile.id}: CONTRL for interchange {ref}")
            report["details"].append(detail)
    return report


def archived_interchange(hub: Hub, partner: str, interchange_ref: str) -> dict[str, Any]:
    """The inbound interchange row (its archive path), or a PermanentError naming the fix."""
    row = hub.ledger.interchange(partner, "in", interchange_ref)
    if row is None:
        raise PermanentError(
            f"interchange {interchange_ref!r} from {partner} is not in the ledger; the file was "
            "never registered: put it back into the partner inbox instead",
            system="edi",
        )
    if not row.get("archive_path"):  # a crash before the commit: the archive is by content
        row["archive_path"] = str(hub.archive.path_for(partner, row["file_hash"]))
    return row
