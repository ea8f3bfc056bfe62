"""crm_push, what the deal shows beside itself: the quote, the delivery and the invoice status.

Each is one payload per sale, hash-compared with its binding (unchanged: no request): the ERP
quotation as a CRM quote object associated with the deal; tracking numbers, carrier status
and delivered date from the hub's own journal (done bookings and recorded tracking
statuses, ``KeyKind.BOOKING``/``TRACKING``); invoice number and payment status of posted
invoices. The deal properties are written by upsert on the deal's id property.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.crm.models import UpsertOutcome
from hub.flows.crm_merges import refuse_deleted
from hub.flows.crm_run import (
    DEAL_DELIVERY,
    DEAL_INVOICE,
    FLOW_PUSH,
    QUOTE,
    SYSTEM,
    Letter,
    Run,
    failure_letter,
)
from hub.ledger.bindings import Binding, BindRow
from schemas.model import ErpSale, Invoice
from transforms import crm_mapping as m
from transforms import crm_sales as q
from transforms.keys import KeyKind


@dataclass
class Sales:
    """One push of sales: what is read, what is bound, what the commit will write."""

    sales: dict[str, ErpSale]
    by_ref: dict[tuple[str, str], ErpSale]
    deals: dict[str, Binding]
    deal_ids: dict[str, str]
    rows: list[BindRow] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    sent: dict[str, dict[str, str]] = field(default_factory=dict)
    known: dict[str, dict[str, Binding]] = field(default_factory=dict)  # entity -> bindings

    def page(self, sale_ids: Sequence[str]) -> Sales:
        """A page of these sales with its own rows, letters and sent payloads; deal ids and
        known bindings are shared (each page adds the deals it made)."""
        return Sales(
            {i: self.sales[i] for i in sale_ids}, self.by_ref, self.deals, self.deal_ids,
            known=self.known,
        )  # fmt: skip


def push_quotes(run: Run, state: Sales) -> None:
    """Every sale with a deal as a CRM quote; a new quote is associated with its deal."""
    if not run.config.quotes:
        return
    known = state.known.get(QUOTE) or run.ledger.bindings_for(SYSTEM, QUOTE)
    send: dict[str, dict[str, str]] = {}
    for sale in state.sales.values():
        payload = q.quote_payload(sale)
        if payload is None or sale.erp_id not in state.deal_ids:
            continue
        b = known.get(sale.erp_id)
        if b is not None and b.content_hash == m.payload_hash(payload):
            continue
        send[sale.erp_id] = payload
    if not send:
        return
    outcome = run.crm.upsert("quotes", send)
    run.counts["quotes_sent"] += len(send)
    deal_of = {i: state.deal_ids[i] for i in send}
    link_and_bind(run, state, (QUOTE, "quote", "quotes"), outcome, send, deal_of, only_new=True)


def link_and_bind(
    run: Run,
    state: Sales,
    what: tuple[str, str, str],  # binding entity, letter kind, CRM object type
    outcome: UpsertOutcome,
    send: dict[str, dict[str, str]],
    deal_of: dict[str, str],  # ERP key -> the deal's CRM id
    *,
    only_new: bool,
) -> None:
    """Associate the records just written with their deals (``only_new``: those created),
    bind the ones linked, and letter what the CRM refused."""
    entity, kind, object_type = what
    pairs = [(ok.crm_id, deal_of[ok.erp_id]) for ok in outcome.succeeded
             if ok.created or not only_new]  # fmt: skip
    assoc = run.crm.associate(object_type, "deals", pairs) if pairs else None
    failed = [*outcome.failed, *(assoc.failed if assoc else [])]
    unlinked = {f.erp_id for f in assoc.failed} if assoc else set()
    state.rows += [
        BindRow(entity, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
        if ok.crm_id not in unlinked
    ]
    state.letters += [failure_letter(FLOW_PUSH, kind, f, send.get(f.erp_id or "")) for f in failed]


def push_delivery(run: Run, state: Sales) -> None:
    """Tracking number, carrier, carrier status and delivered date onto each shipped deal."""
    bookings = [
        e["result"]
        for e in run.ledger.journal_find(KeyKind.BOOKING, state="done")
        if isinstance(e.get("result"), dict)
    ]
    if not bookings:
        return
    numbers = [str(b["tracking_number"]) for b in bookings if b.get("tracking_number")]
    tracking = [
        e["result"]
        for e in run.ledger.journal_find(KeyKind.TRACKING, subjects=numbers, state="done")
        if isinstance(e.get("result"), dict)
    ]
    parcels = q.parcels_by_order(bookings, tracking)
    by_reference: dict[str, list[ErpSale]] = {}
    for sale in state.sales.values():
        if sale.reference and sale.erp_id in state.deal_ids:
            by_reference.setdefault(sale.reference, []).append(sale)
    payloads = {}
    for order, found in parcels.items():
        sales = by_reference.get(order, [])
        if len(sales) == 1:  # the same order number at two customers: not guessed
            payloads[sales[0].erp_id] = q.delivery_payload(found)
    _upsert_deal_facts(run, state, DEAL_DELIVERY, "delivery", payloads)


def push_invoices(run: Run, state: Sales, invoices: Sequence[Invoice]) -> None:
    """Invoice number and payment status onto the deal."""
    payloads: dict[str, dict[str, str]] = {}
    for invoice in invoices:
        invoiced = next(
            (state.by_ref.get((invoice.customer.erp_id or "", r)) for r in invoice.order_numbers),
            None,
        )
        if invoiced is None or invoiced.erp_id not in state.deal_ids:
            state.letters.append(_invoice_letter(invoice, invoiced))
            continue
        payloads[invoiced.erp_id] = m.invoice_payload(invoice)
    _upsert_deal_facts(run, state, DEAL_INVOICE, "invoice", payloads)


def _upsert_deal_facts(
    run: Run, state: Sales, entity: str, what: str, payloads: dict[str, dict[str, str]]
) -> None:
    """Upsert the changed ``payloads`` (sale ERP id -> deal properties), bound as ``entity``."""
    known = run.ledger.bindings_for(SYSTEM, entity)
    send = {
        sale_id: payload
        for sale_id, payload in payloads.items()
        if (b := known.get(sale_id)) is None or b.content_hash != m.payload_hash(payload)
    }
    state.letters += refuse_deleted(run, "deals", state.deals, send)
    state.sent.update({f"{what}:{k}": v for k, v in send.items()})
    if not send:
        return
    outcome = run.crm.upsert("deals", send)
    run.counts[f"{what}_updates_sent"] += len(send)
    state.rows += [
        BindRow(entity, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
    ]
    state.letters += [failure_letter(FLOW_PUSH, "deal", f, None) for f in outcome.failed]


def _invoice_letter(invoice: Invoice, sale: ErpSale | None) -> Letter:
    why = (
        f"no ERP sale of party {invoice.customer.erp_id} has reference "
        f"{', '.join(invoice.order_numbers) or '(none)'}"
        if sale is None
        else f"sale {sale.erp_id} is not a deal in the CRM yet (its company failed to sync?)"
    )
    return Letter(
        FLOW_PUSH, f"invoice:{invoice.erp_id}",
        f"invoice {invoice.number}: cannot update the deal's invoice status: {why}",
        "PermanentError",
    )  # fmt: skip
