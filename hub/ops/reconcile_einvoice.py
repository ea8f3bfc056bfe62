"""`hub reconcile`, e-invoice section: the ERP's invoices to e-invoice customers against the
documents the hub delivered.

Every posted ERP invoice of a customer listed in ``config/einvoice.yaml`` that the flow's
cursor (``einvoice.out``) has passed is compared with what was sent: the journal's "done"
for (customer, invoice) and the archived bytes under the hash it journaled. The figures are
read back from the archived document itself (number, net, VAT, gross; for a PDF its
embedded XML), so each side's hash is over the same fields and a clean run shows equal
aggregates. Differences:

- ``not_sent``: passed by the cursor, never delivered (``dead_letter`` while a dead letter
  for it is open);
- ``archive_differs``: delivered, but the archived copy is missing or not the bytes sent;
- ``changed_in_erp``: delivered, and the ERP invoice's number or totals are no longer what
  the customer received (an invoice changed after it was sent needs a credit note).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from hub.bootstrap import Hub
from schemas.einvoice_config import CustomerEInvoice
from schemas.errors import HubError
from schemas.model import Invoice

SECTION = "einvoice"
SYSTEMS = ("erp", "einvoice")


def _aggregate(hashes: dict[str, str]) -> str:
    lines = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _figures(number: str, *amounts: Decimal | str) -> str:
    """Number and totals in one spelling, sign dropped (a credit note's are positive)."""
    cents = [str(abs(Decimal(str(a) or "0")).quantize(Decimal("0.01"))) for a in amounts]
    return "|".join([number, *cents])


def _erp_figures(invoice: Invoice) -> str:
    return _figures(
        invoice.number, invoice.untaxed_amount, invoice.tax_amount, invoice.total_amount
    )


def _sent_figures(data: bytes) -> str:
    """The figures the customer received, read from the archived document."""
    from connectors.einvoice.validator import invoice_xml
    from transforms.einvoice.read import summarize

    s = summarize(invoice_xml(data))
    return _figures(s.number, s.totals["net"], s.totals["vat"], s.totals["gross"])


def _report(
    left: dict[str, str], right: dict[str, str], diffs: list[dict[str, Any]], *, active: bool = True
) -> dict[str, Any]:
    erp, einvoice = SYSTEMS
    return {
        "section": SECTION,
        "active": active,
        "systems": list(SYSTEMS),
        "counts": {erp: len(left), einvoice: len(right)},
        "hashes": {erp: _aggregate(left), einvoice: _aggregate(right)},
        "differences": diffs,
    }


def einvoice_section(hub: Hub) -> dict[str, Any]:
    """The e-invoice section of ``hub reconcile`` (inactive before the flow's first run)."""
    from hub.flows.einvoice import STREAM
    from hub.flows.einvoice_config import load_config

    config = load_config()
    cursor = hub.ledger.load_cursor(STREAM)
    if config is None or not config.customers or cursor.value is None:
        return _report({}, {}, [], active=False)
    invoices = [
        i
        for i in hub.erp.invoices_posted_since(None, limit=1_000_000)
        if i.customer.erp_id and not cursor.is_new(i.updated_at, i.erp_id)
    ]
    wanted = sorted({i.customer.erp_id for i in invoices if i.customer.erp_id})
    entries = {
        p.erp_id: entry
        for p in (hub.erp.get_parties(wanted) if wanted else [])
        if p.erp_id and (entry := config.for_party(p.code, p.erp_id)) is not None
    }
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    diffs: list[dict[str, Any]] = []
    open_letters = {
        d.record_key for d in hub.ledger.dead_letters(flow="einvoice_outbound", limit=100_000)
    }
    for invoice in sorted(invoices, key=lambda i: i.number):
        entry = entries.get(invoice.customer.erp_id or "")
        if entry is not None:
            _compare(hub, entry, invoice, open_letters, (left, right, diffs))
    return _report(left, right, diffs)


def _compare(
    hub: Hub,
    entry: CustomerEInvoice,
    invoice: Invoice,
    open_letters: set[str],
    out: tuple[dict[str, str], dict[str, str], list[dict[str, Any]]],
) -> None:
    """One invoice of one e-invoice customer against what was delivered."""
    from hub.flows.einvoice_send import key_of, pinned_before

    left, right, diffs = out
    key = key_of(entry, invoice)
    record = f"invoice {invoice.number} ({entry.format} to {entry.party})"
    left[key.doc_key] = _erp_figures(invoice)
    done = hub.ledger.journal_entry(key)
    if done is None or done["state"] != "done":
        kind = "dead_letter" if str(key) in open_letters else "not_sent"
        diffs.append({"record": record, "kind": kind, "detail": "no e-invoice delivered"})
        return
    pinned = pinned_before(hub, entry, invoice)
    if pinned is None:
        diffs.append(
            {
                "record": record,
                "kind": "archive_differs",
                "detail": f"the archived copy of {done.get('result', {}).get('file')} is "
                "missing or differs from what was sent",
            }
        )
        return
    try:
        right[key.doc_key] = _sent_figures(pinned.data)
    except (HubError, ValueError) as exc:
        right[key.doc_key] = ""
        diffs.append({"record": record, "kind": "archive_differs", "detail": str(exc)})
        return
    if right[key.doc_key] != left[key.doc_key]:
        diffs.append(
            {
                "record": record,
                "kind": "changed_in_erp",
                "detail": f"sent {right[key.doc_key]}, the ERP now says {left[key.doc_key]} "
                "(number|net|VAT|gross): issue a credit note and a new invoice",
            }
        )
