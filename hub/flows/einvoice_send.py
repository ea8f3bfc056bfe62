"""The send step of one e-invoice: build, validate, pin by hash, deliver once, trace.

1. a document already journaled (an earlier attempt got as far as the send) is re-sent
   from the archive by the hash the journal holds: the same bytes, the same invoice number,
   never a rebuild (a Factur-X PDF's metadata carries the time it was made);
2. otherwise it is built from the canonical Invoice, each line with the allowances and
   charges its order line has now (BG-27, BG-28: the customer's sale the hub journaled for
   the order and its changes, as INVOIC states them; the ERP keeps only net prices),
   validated by the official rules, and a document with any error is never sent:
   ``InvalidEInvoice`` (a dead letter listing rule id, location and text of each error); a
   valid one is archived by its hash;
3. ``ledger.once`` journals the intent with that hash, then delivers through the customer's
   channel: the partner's mailbox (its ``send`` is exactly-once per file name) or an
   e-mail through ``hub_smtp``. An outcome left unknown (a crash after sending, before the
   commit) is repeated with the pinned bytes;
4. with the journal's "done": a trace event (``einvoice.sent``) under the invoice number
   and its orders, pointing at the archived document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from connectors.edi.channels import sha256
from connectors.einvoice.mail import InvoiceMail, Mailer
from connectors.einvoice.svrl import Finding
from connectors.einvoice.validator import Validator
from hub.bootstrap import Hub
from hub.flows.order_allowances import journaled_sales
from hub.ledger import Effect, OnUnknown, Status
from hub.ops.events import record_event
from schemas.einvoice_config import CustomerEInvoice, Seller
from schemas.errors import HubError, PermanentError, TransientError
from schemas.model import Invoice, Party
from transforms.edifact_invoic import with_order_allowances
from transforms.einvoice import Rendered, extension, render
from transforms.einvoice.document import build
from transforms.keys import DocumentKey

FLOW = "einvoice_outbound"
DOC_TYPE = "EINVOICE"


class InvalidEInvoice(PermanentError):
    """A generated e-invoice that breaks the official rules: never sent."""

    def __init__(self, what: str, errors: list[Finding]) -> None:
        shown = "; ".join(f"{f.rule} at {f.location}: {f.text}" for f in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(
            f"{what} fails the official rules, not sent: {shown}{more}; fix the data in the "
            "ERP or config/einvoice.yaml, then run the flow again",
            system="einvoice",
            code="invalid_einvoice",
        )
        self.errors = errors


@dataclass(frozen=True)
class Pinned:
    """The bytes to send for one invoice, archived under their hash."""

    data: bytes
    file_name: str
    media_type: str
    path: Path
    warnings: tuple[str, ...] = ()


@dataclass
class Delivery:
    """What the send step needs from the run."""

    hub: Hub
    validator: Validator
    seller: Seller
    mailer: Callable[[], Mailer]


def key_of(customer: CustomerEInvoice, invoice: Invoice) -> DocumentKey:
    """The journal key of sending ``invoice`` to ``customer`` as an e-invoice."""
    return DocumentKey(DOC_TYPE, customer.party, invoice.erp_id)


def scope(customer: CustomerEInvoice) -> str:
    """The archive folder of a customer's e-invoices."""
    return f"einvoice-{customer.party}"


def _name(invoice: Invoice, customer: CustomerEInvoice, suffix: str) -> str:
    kind = "CreditNote" if invoice.kind == "credit_note" else "Invoice"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in invoice.number)
    return f"{kind}_{safe}_{customer.format}{suffix}"


def pinned_before(hub: Hub, customer: CustomerEInvoice, invoice: Invoice) -> Pinned | None:
    """The bytes an earlier attempt journaled (its hash) and archived, if any."""
    entry = hub.ledger.journal_entry(key_of(customer, invoice))
    if entry is None:
        return None
    digest = str(entry["payload_hash"])
    for suffix, media in ((".xml", "application/xml"), (".pdf", "application/pdf")):
        path = hub.archive.path_for(scope(customer), digest, suffix)
        if path.exists() and sha256(data := path.read_bytes()) == digest:
            return Pinned(data, _name(invoice, customer, suffix), media, path)
    return None


def prepare(d: Delivery, customer: CustomerEInvoice, invoice: Invoice, buyer: Party) -> Pinned:
    """Build, validate and archive; InvalidEInvoice when the official rules find an error."""
    invoice = with_order_allowances(invoice, journaled_sales(d.hub, invoice))
    doc = build(invoice, fmt=customer.format, seller=d.seller, buyer=buyer, customer=customer)
    rendered: Rendered = render(doc)
    report = d.validator.validate(rendered.data, rendered.file_name)
    what = f"invoice {invoice.number} as {customer.format} for {buyer.name}"
    if not report.valid:
        raise InvalidEInvoice(what, report.errors)
    suffix, _media = extension(customer.format)
    path = d.hub.archive.store(scope(customer), rendered.data, suffix=suffix)
    warnings = tuple(f"{f.rule}: {f.text}" for f in report.warnings)
    return Pinned(rendered.data, rendered.file_name, rendered.media_type, path, warnings)


def _sender(
    d: Delivery, customer: CustomerEInvoice, invoice: Invoice, pinned: Pinned
) -> Callable[[], dict[str, Any]]:
    def send() -> dict[str, Any]:
        done: dict[str, Any] = {
            "file": pinned.file_name,
            "sha256": sha256(pinned.data),
            "number": invoice.number,
            "format": customer.format,
        }
        if customer.channel == "email":
            assert customer.email is not None
            mail = InvoiceMail(
                to=customer.email,
                subject=f"{d.seller.name}: {_title(invoice)} {invoice.number}",
                body=f"Please find attached {_title(invoice).lower()} {invoice.number} "
                f"({customer.format}).\n",
                attachment=pinned.data,
                file_name=pinned.file_name,
                media_type=pinned.media_type,
                digest=sha256(pinned.data),
            )
            return {**done, "channel": "email", "message_id": d.mailer().send(mail)}
        profile = d.hub.partners.get(customer.partner or "")
        if profile is None:
            raise PermanentError(
                f"customer {customer.party}: partner profile "
                f"{customer.partner!r} not found in config/partners",
                system="einvoice",
            )
        try:
            written = d.hub.mailbox(profile).send(pinned.file_name, pinned.data)
        except OSError as exc:
            raise TransientError(
                f"writing {pinned.file_name} to {profile.id}'s outbox failed: {exc}", system="edi"
            ) from exc
        return {**done, "channel": "outbox", "partner": profile.id, "written": written}

    return send


def _title(invoice: Invoice) -> str:
    return "Credit note" if invoice.kind == "credit_note" else "Invoice"


def deliver(
    d: Delivery, customer: CustomerEInvoice, invoice: Invoice, pinned: Pinned
) -> tuple[Status, dict[str, Any]]:
    """Send ``pinned`` once for (customer, invoice); the journal's status and result."""
    ledger = d.hub.ledger
    key = key_of(customer, invoice)
    system = "smtp" if customer.channel == "email" else "edi"
    outcome = ledger.once(
        key,
        sha256(pinned.data),
        _sender(d, customer, invoice, pinned),
        on_unknown=OnUnknown.repeat(),  # the same pinned bytes, the same invoice number
        effect=Effect(
            FLOW,
            system,
            f"send {customer.format}",
            ref=invoice.number,
            partner=customer.partner,
            what=f"{_title(invoice).lower()} {invoice.number} to {customer.party}",
        ),
        on_done=lambda conn, result: _trace(d, customer, invoice, pinned, result, conn),
    )
    if outcome.status is Status.DONE_BEFORE:
        return outcome.status, outcome.result or {}
    if not outcome.ok or outcome.result is None:
        raise _not_sent(invoice, outcome.status, outcome.error)
    return outcome.status, outcome.result


def _not_sent(invoice: Invoice, status: Status, error: HubError | None) -> HubError:
    if status is Status.DEAD:
        return PermanentError(
            f"e-invoice {invoice.number}: sending was given up earlier; see the dead letters",
            system="einvoice",
        )
    if isinstance(error, PermanentError):
        return error
    return TransientError(
        f"e-invoice {invoice.number}: not sent yet ({error}); the next run sends the same document",
        system="einvoice",
    )


def _trace(
    d: Delivery,
    customer: CustomerEInvoice,
    invoice: Invoice,
    pinned: Pinned,
    result: dict[str, Any],
    conn: Connection,
) -> None:
    refs = tuple(dict.fromkeys(r for r in invoice.order_numbers if r))
    record_event(
        d.hub.ledger,
        ref=invoice.number,
        refs=refs,
        kind="einvoice.sent",
        flow=FLOW,
        system="smtp" if customer.channel == "email" else "edi",
        partner=customer.partner,
        state="sent",
        document=str(pinned.path),
        detail={
            "file": pinned.file_name,
            "format": customer.format,
            "channel": customer.channel,
            "invoices": [invoice.number],
            "orders": list(refs),
            "summary": f"{customer.format} {pinned.file_name} to {customer.party} by "
            f"{customer.channel} ({result.get('message_id') or result.get('partner')})",
        },
        conn=conn,
    )
