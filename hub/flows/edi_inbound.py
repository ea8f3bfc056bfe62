"""Flow edi_orders_inbound: partners' ORDERS files become ERP sales, acknowledged, exactly once.

Per partner mailbox, per file: archive the raw bytes; parse and validate while streaming;
register each interchange in the ledger (a repeat gets its first acknowledgement again);
map accepted ORDERS to sales orders, check them against the ERP (parties, GTINs, prices);
create the good ones in one ERP batch through the journal; answer with CONTRL, APERAK and
ORDRSP; and only then take the file out of the inbox. One bad file never stops the others;
a transient ERP failure fails the run, and the rerun repeats nothing that was done.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.edi import (
    EdifactReader,
    InterchangeHeader,
    Issue,
    Message,
    MessageResult,
    Validator,
)
from connectors.edi.channels import Mailbox, sha256
from connectors.edi.charsets import CharsetPolicy
from connectors.edi.result import FileResult, InterchangeResult
from connectors.erp.port import SaleResult
from hub import edi_out
from hub.bootstrap import Hub
from hub.config import partner_by_sender
from schemas.config import PartnerProfile
from schemas.errors import ConflictError, PermanentError, TransientError
from schemas.model import ErpSale, PartyRef, Product, SalesOrder
from transforms import edifact_acks as acks
from transforms.edifact_orders import (
    AppError,
    check_against_erp,
    line_differences,
    orders_to_sales_order,
    resolve_codes,
)

log = logging.getLogger(__name__)

FLOW = "edi_orders_inbound"


@dataclass
class ParsedInterchange:
    """One interchange of a file: header, validation result, and its messages."""

    header: InterchangeHeader
    result: InterchangeResult
    messages: list[tuple[Message, MessageResult]] = field(default_factory=list)


@dataclass
class PendingOrder:
    """An accepted ORDERS message on its way to the ERP."""

    message: Message
    order: SalesOrder
    key: str
    payload_hash: str
    sale: ErpSale | None = None
    errors: list[AppError] = field(default_factory=list)
    created: bool = False


def parse_file(
    data: bytes, name: str, policy: CharsetPolicy
) -> tuple[FileResult, list[ParsedInterchange]]:
    """Stream-validate a file and keep the messages of each interchange for mapping."""
    reader = EdifactReader(data, policy=policy)
    validator = Validator(name)
    parsed: list[ParsedInterchange] = []
    from connectors.edi.errors import EdifactError

    try:
        for event in reader:
            mres = validator.feed(event)
            if isinstance(event, InterchangeHeader):
                parsed.append(ParsedInterchange(event, validator.result.interchanges[-1]))
            elif isinstance(event, Message) and mres is not None and parsed:
                parsed[-1].messages.append((event, mres))
    except EdifactError as exc:
        validator.result.errors.append(Issue(exc.syntax_code, "file", f"{name}: {exc.message}"))
    return validator.finish(), parsed


def _findings(issues: Sequence[Issue]) -> list[acks.SyntaxFinding]:
    return [
        acks.SyntaxFinding(
            int(i.code),
            i.level,
            i.segment_position,
            i.tag,
            i.element_position,
            i.component_position,
        )
        for i in issues
    ]


def _s009(type_label: str) -> list[str]:
    return type_label.split(":") if type_label else [""]


def edi_orders_inbound(
    hub: Hub, *, partner: str | None = None, max_files: int | str = 200
) -> dict[str, Any]:
    """Collect, validate, create orders, acknowledge, archive: for one or every partner."""
    report: dict[str, Any] = {
        "status": "ok",
        "files": 0,
        "accepted": 0,
        "rejected": 0,
        "quarantined": 0,
        "duplicates": 0,
        "orders_created": 0,
        "orders_existing": 0,
        "orders_refused": 0,
        "test_orders": 0,
        "documents_sent": 0,
        "details": [],
    }
    profiles = [p for p in hub.partners.values() if p.active and (partner in (None, p.id))]
    if partner and not profiles:
        raise PermanentError(f"unknown or inactive partner {partner!r}", system="edi")
    for profile in profiles:
        box = hub.mailbox(profile)
        for inbound in box.ready()[: int(max_files)]:
            detail = _process_file(hub, profile, box, inbound.name)
            report["files"] += 1
            report[detail["verdict"]] += 1
            for key in (
                "orders_created",
                "orders_existing",
                "orders_refused",
                "test_orders",
                "documents_sent",
            ):
                report[key] += detail.get(key, 0)
            report["duplicates"] += int(detail.get("duplicate", False))
            report["details"].append(detail)
    if report["rejected"] or report["quarantined"] or report["orders_refused"]:
        report["status"] = "partial"
    return report


def _process_file(hub: Hub, profile: PartnerProfile, box: Mailbox, name: str) -> dict[str, Any]:
    data = box.read(name)
    digest = sha256(data)
    archived = hub.archive.store(profile.id, data)
    detail: dict[str, Any] = {
        "partner": profile.id,
        "file": name,
        "sha256": digest,
        "archive": str(archived),
    }
    result, parsed = parse_file(data, name, profile.charset_policy)
    detail["validation"] = result.to_dict()
    sender = parsed[0].result.sender if parsed else None
    if result.verdict == "quarantined" or not parsed:
        return _quarantine(
            hub, profile, box, name, data, digest, detail, _quarantine_reason(result)
        )
    for ich in parsed:
        if (ich.result.sender, ich.result.sender_qualifier or profile.unb.partner_qualifier) != (
            profile.unb.partner_id,
            profile.unb.partner_qualifier,
        ):
            known = partner_by_sender(hub.partners, ich.result.sender, ich.result.sender_qualifier)
            why = (
                f"UNB sender {ich.result.sender}:{ich.result.sender_qualifier} of interchange "
                f"{ich.result.control_ref!r} is not partner {profile.id!r} "
                f"({profile.unb.partner_id}:{profile.unb.partner_qualifier})"
                + (
                    f" but {known.id!r}: the file was put in the wrong inbox"
                    if known
                    else ": unknown sender, add a partner profile in config/partners or fix the UNB"
                )
            )
            return _quarantine(hub, profile, box, name, data, digest, detail, why)
    counts = {
        "orders_created": 0,
        "orders_existing": 0,
        "orders_refused": 0,
        "test_orders": 0,
        "documents_sent": 0,
        "syntax_rejected": 0,
    }
    duplicate_only = True
    for ich in parsed:
        outcome = _process_interchange(hub, profile, box, ich, name, digest)
        duplicate_only &= outcome.pop("duplicate", False)
        for key, value in outcome.items():
            counts[key] = counts.get(key, 0) + value
    detail.update(counts)
    detail["duplicate"] = duplicate_only
    rejected = result.verdict == "rejected" or counts["orders_refused"] or counts["syntax_rejected"]
    detail["verdict"] = "rejected" if rejected else "accepted"
    box.remove(name)
    log.info("%s: %s from %s (%s)", name, detail["verdict"], sender, counts)
    return detail


def _quarantine_reason(result: FileResult) -> str:
    errors = result.all_errors()
    if errors:
        return "; ".join(f"{e.message} [{e.where() or e.level}]" for e in errors[:3])
    return "no readable interchange (no UNB with a sender and a control reference)"


def _quarantine(
    hub: Hub,
    profile: PartnerProfile,
    box: Mailbox,
    name: str,
    data: bytes,
    digest: str,
    detail: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    target = hub.quarantine_dir / profile.id
    target.mkdir(parents=True, exist_ok=True)
    kept = target / f"{digest[:12]}-{name}"
    if not kept.exists():
        kept.write_bytes(data)
    hub.ledger.dead_letter(
        FLOW,
        f"file:{profile.id}:{digest}",
        f"{name}: quarantined, nothing could be acknowledged: {reason}",
        error_class="QuarantinedFile",
        payload={
            "file": name,
            "partner": profile.id,
            "quarantined": str(kept),
            "archive": detail["archive"],
        },
        system="edi",
        partner=profile.id,
    )
    box.remove(name)
    detail.update(verdict="quarantined", reason=reason, quarantined=str(kept))
    return detail


def _process_interchange(
    hub: Hub, profile: PartnerProfile, box: Mailbox, ich: ParsedInterchange, name: str, digest: str
) -> dict[str, Any]:
    ledger = hub.ledger
    ref = ich.result.control_ref
    row, is_new = ledger.record_interchange(profile.id, "in", ref, digest, file_name=name)
    if not is_new and row["state"] == "done" and row["file_hash"] != digest:
        return _reused_reference(hub, profile, box, ich, row, name, digest)
    if not is_new and row["state"] == "done":
        sent = 0
        for doc in json.loads(row["ack"] or "[]"):
            sent += int(box.send(doc["name"], base64.b64decode(doc["data"])))
        if row["file_name"] == name:
            # the very file another worker processed while this one was reading it, or a
            # file left behind by a crash after the commit: nothing for a person to do
            log.info("%s: interchange %s already processed from this file", name, ref)
            return {"duplicate": True, "documents_sent": sent}
        ledger.dead_letter(
            FLOW,
            f"duplicate:{profile.id}:{ref}:{digest[:12]}",
            f"{name}: interchange {ref!r} from {profile.id} was already processed on "
            f"{row['created_at']:%Y-%m-%d %H:%M} (file {row['file_name']}); not processed again, "
            "its acknowledgements were sent again",
            error_class="DuplicateInterchange",
            payload={"file": name, "first_file": row["file_name"]},
            system="edi",
            partner=profile.id,
        )
        return {"duplicate": True, "documents_sent": sent}
    prepared: datetime = row["created_at"]
    header_errors = list(ich.result.errors)
    if ich.result.recipient != profile.unb.our_id:
        header_errors.append(
            Issue(
                7,
                "interchange",
                f"UNB recipient {ich.result.recipient} is not us ({profile.unb.our_id})",
                1,
                "UNB",
                3,
            )
        )
    if ich.result.test and not profile.accept_test_interchanges:
        header_errors.append(
            Issue(25, "interchange", "test interchanges are not accepted", 1, "UNB", 11)
        )
    verdicts: list[acks.MessageVerdict] = []
    pending: list[PendingOrder] = []
    refused: list[tuple[Message, str, list[AppError]]] = []
    for msg, mres in ich.messages:
        errors = list(mres.errors)
        if not errors and not profile.accepts(msg.type):
            errors.append(
                Issue(
                    14,
                    "message",
                    f"message type {msg.type} is not agreed with {profile.id}",
                    1,
                    "UNH",
                    2,
                )
            )
        accepted = not header_errors and not errors
        verdicts.append(acks.MessageVerdict(msg.ref, _s009(msg.type), accepted, _findings(errors)))
        if not accepted or not msg.type.startswith("ORDERS:"):
            continue
        order, app_errors = orders_to_sales_order(
            msg.segments, source=f"{profile.id}:{name}:{ref}:{msg.ref}"
        )
        if order is None:
            refused.append((msg, msg.ref, app_errors))
            continue
        key = f"erp.sale:{order.buyer.gln}:{order.order_number}"
        payload_hash = order.model_copy(update={"source": None}).content_hash()
        pending.append(PendingOrder(msg, order, key, payload_hash))

    counts = {
        "orders_created": 0,
        "orders_existing": 0,
        "orders_refused": 0,
        "test_orders": 0,
        "documents_sent": 0,
    }
    documents: list[edi_out.OutboundDocument] = []
    if pending and ich.result.test:
        counts["test_orders"] = len(pending)  # validated and acknowledged, never posted
        pending = []
    if pending:
        _check_and_create(hub, profile, pending)
    for item in pending:
        if item.errors:
            refused.append((item.message, item.order.order_number, item.errors))
        elif item.sale is not None:
            counts["orders_created" if item.created else "orders_existing"] += 1
            if profile.acknowledgements.ordrsp:
                documents.append(_ordrsp(hub, profile, item, prepared))
    for msg, order_ref, order_errors in refused:
        counts["orders_refused"] += 1
        hub.ledger.dead_letter(
            FLOW,
            f"order:{profile.id}:{order_ref}",
            f"{name}: interchange {ref} message {msg.ref} (order {order_ref}) refused: "
            + "; ".join(e.message for e in order_errors),
            error_class=(
                "ConflictError" if any(e.code == "DUP" for e in order_errors) else "OrderRefused"
            ),
            payload={
                "file": name,
                "interchange": ref,
                "message": msg.ref,
                "errors": [e.as_dict() for e in order_errors],
            },
            system="erp",
            partner=profile.id,
        )
        if profile.acknowledgements.aperak:
            documents.append(_aperak(hub, profile, msg, order_ref, order_errors, prepared, ref))
    has_errors = bool(header_errors) or any(not v.accepted for v in verdicts)
    counts["syntax_rejected"] = int(has_errors)
    policy = profile.acknowledgements.contrl
    if policy == "always" or (policy == "on_error" and has_errors):
        body = acks.contrl(
            interchange_ref=ref,
            sender=(ich.result.sender, ich.result.sender_qualifier),
            recipient=(ich.result.recipient, ich.result.recipient_qualifier),
            interchange_findings=_findings(header_errors),
            messages=verdicts,
        )
        documents.insert(
            0,
            edi_out.render(
                hub.ledger,
                profile,
                doc_type="CONTRL",
                doc_key=f"CONTRL:{ref}:{digest[:16]}",
                message_type=":".join(acks.CONTRL_TYPE),
                body=body,
                prepared=prepared,
            ),
        )
    for doc in documents:
        counts["documents_sent"] += int(edi_out.send(box, doc))
    ack_record = [
        {"name": d.file_name, "type": d.doc_type, "data": base64.b64encode(d.data).decode()}
        for d in documents
    ]
    ledger.update_interchange(
        profile.id,
        "in",
        ref,
        state="done",
        ack=json.dumps(ack_record),
        archive_path=str(hub.archive.path_for(profile.id, digest)),
        detail=json.dumps({"counts": counts, "file": name}),
    )
    return counts


def _reused_reference(
    hub: Hub,
    profile: PartnerProfile,
    box: Mailbox,
    ich: ParsedInterchange,
    row: dict[str, Any],
    name: str,
    digest: str,
) -> dict[str, Any]:
    """Same UNB control reference as an earlier interchange, other bytes: reject (code 26)."""
    ref = ich.result.control_ref
    reason = (
        f"{name}: interchange reference {ref!r} from {profile.id} was already used on "
        f"{row['created_at']:%Y-%m-%d %H:%M} by {row['file_name']} with different content: "
        "not processed; the partner must send it with a new control reference"
    )
    hub.ledger.dead_letter(
        FLOW,
        f"reused-ref:{profile.id}:{ref}:{digest[:12]}",
        reason,
        error_class="ConflictError",
        payload={"file": name, "first_file": row["file_name"], "interchange": ref},
        system="edi",
        partner=profile.id,
    )
    sent = 0
    if profile.acknowledgements.contrl != "never":
        finding = acks.SyntaxFinding(26, "interchange", 1, "UNB", 5)
        body = acks.contrl(
            interchange_ref=ref,
            sender=(ich.result.sender, ich.result.sender_qualifier),
            recipient=(ich.result.recipient, ich.result.recipient_qualifier),
            interchange_findings=[finding],
            messages=[],
        )
        doc = edi_out.render(
            hub.ledger,
            profile,
            doc_type="CONTRL",
            doc_key=f"CONTRL:{ref}:{digest[:16]}",
            message_type=":".join(acks.CONTRL_TYPE),
            body=body,
            prepared=row["created_at"],
        )
        sent = int(edi_out.send(box, doc))
    return {"syntax_rejected": 1, "documents_sent": sent}


def _check_and_create(hub: Hub, profile: PartnerProfile, pending: list[PendingOrder]) -> None:
    """ERP lookups for the whole batch, checks, then one journaled batch create."""
    erp = hub.erp
    gtins = sorted({line.gtin for p in pending for line in p.order.lines if line.gtin})
    products: dict[str, Product] = erp.find_products_by_gtin(gtins) if gtins else {}
    mapped = {g: c for g, c in profile.product_lookup.items() if g in gtins and g not in products}
    if mapped:
        by_code = erp.find_products_by_code(sorted(set(mapped.values())))
        products.update({g: by_code[c] for g, c in mapped.items() if c in by_code})
    glns = sorted(
        {
            ref.gln
            for p in pending
            for ref in (p.order.buyer, p.order.delivery)
            if ref is not None and ref.gln
        }
    )
    parties = erp.find_parties_by_gln(glns) if glns else {}
    party_ids = {gln: party.erp_id for gln, party in parties.items() if party.erp_id}
    for gln, erp_id in profile.party_lookup.items():
        if gln in glns and gln not in party_ids:
            party_ids[gln] = erp_id
    to_create: list[PendingOrder] = []
    for item in pending:
        item.errors = check_against_erp(
            item.order,
            products_by_gtin=products,
            known_party_glns=party_ids,
            price_tolerance_percent=profile.price_tolerance_percent,
        )
        if item.errors:
            continue
        order = resolve_codes(item.order, products)
        buyer = order.buyer
        item.order = order.model_copy(
            update={
                "buyer": PartyRef(gln=buyer.gln, erp_id=party_ids[buyer.gln or ""], name=buyer.name)
            }
        )
        try:
            claim = hub.ledger.claim(
                item.key,
                item.payload_hash,
                flow=FLOW,
                system="erp",
                action="create_sale",
                ref=item.order.order_number,
            )
        except ConflictError:
            item.errors = [
                AppError(
                    "DUP",
                    f"order {item.order.order_number} from {buyer.gln} was already received with "
                    "different content; send a change (ORDCHG) or a new order number",
                    tag="BGM",
                    element_position=2,
                )
            ]
            continue
        if claim.done:
            item.sale = ErpSale.model_validate(claim.result)
            continue
        if claim.state == "dead":
            item.errors = [
                AppError(
                    "12",
                    f"order {item.order.order_number} was refused earlier; see the dead letters",
                )
            ]
            continue
        to_create.append(item)
    if not to_create:
        return
    try:
        results: list[SaleResult] = erp.create_sales(
            [i.order for i in to_create], state="confirmed"
        )
    except TransientError as exc:
        for item in to_create:
            hub.ledger.fail(item.key, str(exc), dead=False)
        raise
    for item, res in zip(to_create, results, strict=True):
        if res.ok and res.sale is not None:
            item.sale = res.sale
            item.created = res.sale.created
            hub.ledger.complete(item.key, res.sale.model_dump(mode="json"))
        else:
            error = res.error or PermanentError("the ERP refused the order", system="erp")
            if error.retryable:
                hub.ledger.fail(item.key, str(error), dead=False)
                raise error
            hub.ledger.fail(item.key, str(error), dead=True)
            item.errors = [
                AppError("12", f"the ERP refused order {item.order.order_number}: {error.message}")
            ]


def _ordrsp(
    hub: Hub, profile: PartnerProfile, item: PendingOrder, prepared: datetime
) -> edi_out.OutboundDocument:
    assert item.sale is not None
    doc_key = f"ORDRSP:{item.key}"
    number = f"RSP{hub.ledger.control_number(f'ordrsp:{profile.id}', doc_key):07d}"
    gtin_by_code = {
        line.product_code: line.gtin for line in item.order.lines if line.product_code and line.gtin
    }
    body = acks.ordrsp(
        document_number=number,
        issued=prepared.date(),
        order=item.order,
        sale=item.sale,
        line_status=line_differences(item.order, item.sale),
        supplier_gln=profile.unb.our_id,
        gtin_by_code=gtin_by_code,
        decimal_mark=profile.outbound.decimal_mark,
    )
    return edi_out.render(
        hub.ledger,
        profile,
        doc_type="ORDRSP",
        doc_key=doc_key,
        message_type=":".join(acks.ORDRSP_TYPE),
        body=body,
        prepared=prepared,
    )


def _aperak(
    hub: Hub,
    profile: PartnerProfile,
    msg: Message,
    order_ref: str,
    errors: list[AppError],
    prepared: datetime,
    interchange_ref: str,
) -> edi_out.OutboundDocument:
    doc_key = f"APERAK:{interchange_ref}:{msg.ref}"
    number = f"APK{hub.ledger.control_number(f'aperak:{profile.id}', doc_key):07d}"
    body = acks.aperak(
        document_number=number,
        issued=prepared.date(),
        order_number=order_ref,
        order_message_ref=msg.ref,
        our_gln=profile.unb.our_id,
        partner_gln=profile.unb.partner_id,
        errors=errors,
    )
    return edi_out.render(
        hub.ledger,
        profile,
        doc_type="APERAK",
        doc_key=doc_key,
        message_type=":".join(acks.APERAK_TYPE),
        body=body,
        prepared=prepared,
    )
