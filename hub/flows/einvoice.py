"""Flow einvoice_outbound: posted ERP invoices as e-invoices to the customers who want them.

Customers and their format and channel are listed in ``config/einvoice.yaml`` (validated by
``schemas.einvoice_config``); invoices are read incrementally from the ERP (cursor
``einvoice.out``), their customers' parties once per batch. Per invoice of a listed
customer: build, validate by the official rules (EN 16931, XRechnung CIUS, CII XSD: the
folder named by ``HUB_EINVOICE_RULES``), archive by hash and deliver exactly once
(``hub.flows.einvoice_send``). A document that fails validation or lacks data is a dead
letter naming the invoice and every broken rule (id, location, text); the run goes on.
Without the rules folder the flow refuses to start: nothing unvalidated ever leaves.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache
from typing import Any

from connectors.einvoice.mail import Mailer
from connectors.einvoice.validator import Validator, rules_dir
from hub.bootstrap import Hub
from hub.flows.edi_outbound_run import partner_gln
from hub.flows.einvoice_config import load_config, smtp_mailer
from hub.flows.einvoice_send import (
    FLOW,
    Delivery,
    InvalidEInvoice,
    deliver,
    key_of,
    pinned_before,
    prepare,
)
from hub.ledger import Cursor, Status
from schemas.einvoice_config import CustomerEInvoice, EInvoiceConfig
from schemas.errors import HubError, PermanentError, TransientError
from schemas.model import Invoice, Party

log = logging.getLogger(__name__)
STREAM = "einvoice.out"


def einvoice_outbound(
    hub: Hub,
    *,
    customer: str | None = None,
    limit: int | str = 200,
    since: str | None = None,
    dry_run: bool | str = False,
    mailer: Mailer | None = None,
) -> dict[str, Any]:
    """Send every listed customer its invoices posted since the cursor as e-invoices.

    ``customer`` restricts the run to one configured party; ``since`` re-reads the ERP from
    an ISO time (documents sent are skipped); ``dry_run`` builds and validates, sends and
    moves nothing. ``mailer`` replaces the ``hub_smtp`` connection (tests, the demo).
    """
    report = _new_report()
    config = load_config()
    if config is None or not config.customers:
        report["status"] = "not_configured"
        return report
    targets = [c for c in config.customers if customer in (None, c.party)]
    if customer and not targets:
        raise PermanentError(
            f"customer {customer!r} is not in config/einvoice.yaml", system="einvoice"
        )
    delivery = Delivery(
        hub, Validator(rules_dir()), config.seller, cache(lambda: mailer or smtp_mailer())
    )
    dry = dry_run is True or str(dry_run).lower() in ("true", "1", "yes")
    start = _aware(since) if since else None
    cursor = Cursor(STREAM, start=start) if start else hub.ledger.load_cursor(STREAM)
    config_for_run = config.model_copy(update={"customers": tuple(targets)})
    try:
        _read(delivery, config_for_run, cursor, report, int(limit), dry)
    finally:
        if not dry and start is None:
            cursor.commit(hub.ledger)
    if report["dead_letters"]:
        report["status"] = "partial"
    if dry:
        report["status"] = "dry_run"
    return report


def _aware(text: str) -> datetime:
    """An ISO time; without an offset it is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


COUNTS = ("records_read", "sent", "already_sent", "would_send", "dead_letters")


def _new_report() -> dict[str, Any]:
    """The run's report: counts at zero, files sent, warnings by file, one detail an invoice."""
    return {"status": "ok", **dict.fromkeys(COUNTS, 0), "files": [], "warnings": {}, "details": []}


def _read(
    d: Delivery,
    config: EInvoiceConfig,
    cursor: Cursor,
    report: dict[str, Any],
    limit: int,
    dry: bool,
) -> None:
    """Batches of posted invoices from the cursor on; each listed customer's are sent."""
    start = cursor.read_from
    parties: dict[str, Party] = {}
    while True:
        batch = d.hub.erp.invoices_posted_since(start, limit=limit)
        report["records_read"] += len(batch)
        wanted = {i.customer.erp_id for i in batch if i.customer.erp_id} - set(parties)
        if wanted:
            parties.update({p.erp_id: p for p in d.hub.erp.get_parties(sorted(wanted)) if p.erp_id})
        for invoice in batch:
            if not cursor.is_new(invoice.updated_at, invoice.erp_id):
                continue
            party = parties.get(invoice.customer.erp_id or "")
            entry = config.for_party(party.code, party.erp_id) if party else None
            if party is not None and entry is not None:
                _one(d, entry, invoice, party, report, dry)
            if not dry:
                cursor.passed(invoice.updated_at, invoice.erp_id)
        stamps = [i.updated_at for i in batch if i.updated_at is not None]
        if len(batch) < limit or not stamps or max(stamps) == start:
            return
        start = max(stamps)


def _one(
    d: Delivery,
    entry: CustomerEInvoice,
    invoice: Invoice,
    party: Party,
    report: dict[str, Any],
    dry: bool,
) -> None:
    """One invoice for one customer: already sent, sent now, or a dead letter."""
    edi = _edi_partner(d, invoice)
    if edi is not None:
        error = PermanentError(
            f"customer {entry.party} already receives INVOIC through EDI "
            f"partner {edi}: an e-invoice would invoice {invoice.number} "
            "twice; list the customer in config/einvoice.yaml or give it "
            "INVOIC, not both",
            system="einvoice",
            code="invoiced_twice",
        )
        _dead_letter(d, entry, invoice, error, report, dry)
        return
    entry_state = d.hub.ledger.journal_entry(key_of(entry, invoice))
    if entry_state is not None and entry_state["state"] == "done":
        report["already_sent"] += 1
        return
    try:
        pinned = pinned_before(d.hub, entry, invoice) or prepare(d, entry, invoice, party)
        if pinned.warnings:
            report["warnings"][pinned.file_name] = list(pinned.warnings)
        if dry:
            report["would_send"] += 1
            report["details"].append(_detail(entry, invoice, "would_send", pinned.file_name))
            return
        status, result = deliver(d, entry, invoice, pinned)
    except TransientError:
        raise
    except HubError as exc:
        _dead_letter(d, entry, invoice, exc, report, dry)
        return
    counted = "already_sent" if status is Status.DONE_BEFORE else "sent"
    report[counted] += 1
    report["files"].append(pinned.file_name)
    report["details"].append(_detail(entry, invoice, counted, pinned.file_name, result=result))


def _edi_partner(d: Delivery, invoice: Invoice) -> str | None:
    """The EDI partner that sends this invoice's customer INVOIC, if any."""
    for profile in d.hub.partners.values():
        if (
            profile.active
            and "INVOIC" in profile.outbound.documents
            and partner_gln(profile, invoice.customer)
        ):
            return profile.id
    return None


def _detail(
    entry: CustomerEInvoice, invoice: Invoice, outcome: str, file: str, **more: Any
) -> dict[str, Any]:
    return {
        "customer": entry.party,
        "invoice": invoice.number,
        "format": entry.format,
        "channel": entry.channel,
        "file": file,
        "outcome": outcome,
        **more,
    }


def _dead_letter(
    d: Delivery,
    entry: CustomerEInvoice,
    invoice: Invoice,
    exc: HubError,
    report: dict[str, Any],
    dry: bool,
) -> None:
    report["dead_letters"] += 1
    report["details"].append(_detail(entry, invoice, "dead", "", reason=exc.message))
    if dry:
        return
    findings = [f.to_json() for f in exc.errors] if isinstance(exc, InvalidEInvoice) else []
    d.hub.ledger.dead_letter(
        FLOW,
        str(key_of(entry, invoice)),
        exc.message,
        error_class=type(exc).__name__,
        payload={
            "invoice": invoice.number,
            "erp_id": invoice.erp_id,
            "customer": entry.party,
            "format": entry.format,
            "errors": findings,
            "updated_at": invoice.updated_at.isoformat() if invoice.updated_at else None,
            "replay": "fix the data, then run the flow with since=<updated_at>",
        },
        system="einvoice",
        partner=entry.partner,
    )
    log.warning("%s: dead letter for invoice %s: %s", FLOW, invoice.number, exc.message)
