"""INVOIC for a posted invoice: VAT ids from the ERP's parties, the DESADVs it follows quoted.

The customers' VAT ids are read once per batch (one ERP call for every routed customer not
seen yet); the despatch advice numbers (RFF+DQ) and delivery date come from the DESADVs the
hub sent for the invoice's orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from hub.flows.edi_outbound_desadv import BINDING_SYSTEM, desadv_entity
from hub.flows.edi_outbound_run import (
    Problems,
    Record,
    Run,
    gtin_by_code,
    our_gln,
    partner_gln,
    stamp,
    trace_refs,
)
from hub.flows.edi_outbound_send import Outgoing, deliver
from hub.flows.order_allowances import journaled_sales
from schemas.config import PartnerProfile
from schemas.model import Invoice
from transforms import edifact_invoic as invoic_t
from transforms.keys import DocumentKey


def prefetch_parties(run: Run, batch: Sequence[Record], profiles: list[PartnerProfile]) -> None:
    """One ERP call for the VAT ids of every routed customer of the batch not seen yet."""
    ids = sorted(
        {
            r.customer.erp_id
            for r in batch
            if r.customer.erp_id
            and r.customer.erp_id not in run.parties
            and any(partner_gln(p, r.customer) for p in profiles)
        }
    )
    if ids:
        for party in run.hub.erp.get_parties(ids):
            if party.erp_id:
                run.parties[party.erp_id] = party


def invoic(
    run: Run,
    profile: PartnerProfile,
    invoice: Invoice,
    buyer: str,
    *,
    key: DocumentKey | None = None,
    resent_from: str | None = None,
) -> None:
    """The INVOIC of a posted invoice, checked first (what is missing is a dead letter).

    ``key`` and ``resent_from``: a corrected copy of the INVOIC sent under ``resent_from``
    (``hub edi resend``), under its own key and so its own control number."""
    key = key or DocumentKey("INVOIC", profile.id, invoice.erp_id)
    if run.sent_before(key) is not None:
        run.count("already_sent", "INVOIC")
        return
    party = run.parties.get(invoice.customer.erp_id or "")
    buyer_vat = party.vat if party else None
    out = profile.outbound
    gtins = gtin_by_code(profile)
    problems = invoic_t.check(
        invoice,
        buyer_gln=buyer,
        supplier_gln=our_gln(profile),
        buyer_vat=buyer_vat,
        supplier_vat=out.supplier_vat,
        require_vat=out.require_vat,
        gtin_by_code=gtins,
    )
    if problems:
        raise Problems(problems)
    if run.would is not None:
        run.would_send("INVOIC", f"INVOIC for invoice {invoice.number} to {profile.id}")
        return
    despatch, delivered = _despatched(run, profile, invoice)
    invoice = _with_allowances(run, invoice)
    body = invoic_t.invoic(
        invoice,
        buyer_gln=buyer,
        supplier_gln=our_gln(profile) or "",
        buyer_vat=buyer_vat,
        supplier_vat=out.supplier_vat,
        require_vat=out.require_vat,
        gtin_by_code=gtins,
        despatch_numbers=despatch,
        delivery_date=delivered,
        decimal_mark=out.decimal_mark,
    )
    deliver(
        run,
        profile,
        Outgoing(
            key,
            invoic_t.INVOIC_TYPE,
            body,
            stamp(invoice, invoice.invoice_date),
            result={"number": invoice.number, "total": str(invoice.total_amount)},
            record=invoic_t.record_name(invoice),
            trace=trace_refs(invoice.order_numbers, invoices=(invoice.number,)),
            resent_from=resent_from,
        ),
    )


def _despatched(
    run: Run, profile: PartnerProfile, invoice: Invoice
) -> tuple[list[str], date | None]:
    """The DESADV numbers sent for the invoice's orders, and the first despatch date."""
    ledger = run.hub.ledger
    despatch: list[str] = []
    delivered: date | None = None
    for order in invoice.order_numbers:
        bound = ledger.lookup(BINDING_SYSTEM, desadv_entity(profile.id), order)
        if bound is None:
            continue
        sent = run.sent_before(DocumentKey("DESADV", profile.id, bound.erp_id)) or {}
        if sent.get("number"):
            despatch.append(sent["number"])
        if sent.get("despatched") and delivered is None:
            delivered = date.fromisoformat(sent["despatched"])
    return despatch, delivered


def _with_allowances(run: Run, invoice: Invoice) -> Invoice:
    """Each line with the allowances and charges its order line has now (ALC/PCD, reason
    codes), from the customer's sales the hub made and changed (the ERP keeps only net prices)."""
    return invoic_t.with_order_allowances(invoice, journaled_sales(run.hub, invoice))
