"""crm_push, sales: confirmed ERP sales become CRM deals with line items; invoices set their status.

The sales pushed are those the hub created from EDI orders (its own journal), those named
by ``sale_ids``, those already deals, and those a posted invoice refers to. Products and
deals are not windowed: their sync is hash-compared on every run, so what is in sync costs
nothing. A deal written records a ``crm.deal`` trace event in the commit's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.flows.crm_run import (
    COMPANY,
    DEAL,
    DEAL_INVOICE,
    FLOW_PUSH,
    LINE_ITEM,
    STREAM_INVOICES,
    SYSTEM,
    Letter,
    Run,
    bound,
    commit,
    failure_letter,
)
from hub.ledger.bindings import Binding, BindRow
from schemas.model import ErpSale, Invoice
from transforms import crm_mapping as m
from transforms.keys import KeyKind

SALES_FLOW = "edi_orders_inbound"  # the flow whose done sale entries name the hub's sales


def hub_sales(run: Run) -> list[str]:
    """ERP ids of the sales the hub created from EDI orders (done sale journal entries).

    The ERP port has no "sales changed since" query, so the hub's own journal is the list.
    """
    entries = run.ledger.journal_find(KeyKind.SALE, state="done", flow=SALES_FLOW)
    return [
        str(e["result"]["erp_id"])
        for e in entries
        if isinstance(e["result"], dict) and e["result"].get("erp_id")
    ]


@dataclass
class _Sales:
    """One push of sales: what is read, what is bound, what the commit will write."""

    sales: dict[str, ErpSale]
    by_ref: dict[tuple[str, str], ErpSale]
    deals: dict[str, Binding]
    deal_ids: dict[str, str]
    rows: list[BindRow] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    sent: dict[str, dict[str, str]] = field(default_factory=dict)


def push_sales(run: Run, products: dict[str, str], sale_ids: Iterable[str]) -> None:
    """Deals with line items, then the invoice/payment status of posted invoices."""
    cursor = run.cursor(STREAM_INVOICES)
    invoices = [
        i
        for i in run.erp.invoices_posted_since(cursor.read_from, limit=10_000)
        if cursor.in_window(i.updated_at)
    ]
    state = _read_sales(run, sale_ids, invoices)
    _push_deals(run, state)
    _push_line_items(run, state, products)
    _push_invoices(run, state, invoices)
    for invoice in sorted(invoices, key=lambda i: (i.updated_at is None, i.updated_at)):
        cursor.passed(invoice.updated_at, invoice.erp_id or "")
    live = cursor if run.window is None else None  # a backfill re-reads its window each time
    commit(
        run, FLOW_PUSH, state.rows, state.letters, live,
        lambda conn, written: _deal_events(run, conn, written, state.sales, state.sent),
    )  # fmt: skip


def _read_sales(run: Run, sale_ids: Iterable[str], invoices: list[Invoice]) -> _Sales:
    deals = run.ledger.bindings_for(SYSTEM, DEAL)
    wanted = list(dict.fromkeys([*sale_ids, *hub_sales(run), *deals]))
    sales: dict[str, ErpSale] = {}
    for start in range(0, len(wanted), 100):
        for sale in run.erp.get_sales(wanted[start : start + 100]):
            sales[sale.erp_id] = sale
    by_ref = {(s.party_erp_id, s.reference): s for s in sales.values()}
    for invoice in invoices:
        party = invoice.customer.erp_id or ""
        for ref in invoice.order_numbers:
            if (party, ref) not in by_ref and (found := run.erp.find_sale(party, ref)):
                sales[found.erp_id] = by_ref[(party, ref)] = found
    deal_ids = {erp_id: b.external_id for erp_id, b in deals.items()}
    return _Sales(sales, by_ref, deals, deal_ids)


def _push_deals(run: Run, state: _Sales) -> None:
    companies = bound(run, COMPANY)
    send: dict[str, dict[str, str]] = {}
    for sale in state.sales.values():
        payload = m.deal_payload(sale, run.config)
        if payload is None:
            continue
        if sale.party_erp_id not in companies:
            run.counts["deals_waiting_for_company"] += 1
            continue
        b = state.deals.get(sale.erp_id)
        if b is not None and b.content_hash == m.payload_hash(payload):
            run.counts["deals_unchanged"] += 1
            continue
        send[sale.erp_id] = payload
    state.sent.update(send)
    if not send:
        return
    outcome = run.crm.upsert("deals", send)
    run.counts["deals_sent"] += len(send)
    for ok in outcome.succeeded:
        state.deal_ids[ok.erp_id] = ok.crm_id
        state.rows.append(BindRow(DEAL, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id])))
    state.letters += [
        failure_letter(FLOW_PUSH, "deal", f, send.get(f.erp_id or "")) for f in outcome.failed
    ]
    pairs = [  # new deals only: a repeated association is harmless but costs a request
        (state.deal_ids[s], companies[state.sales[s].party_erp_id].external_id)
        for s in send
        if s in state.deal_ids and s not in state.deals
    ]
    if pairs:
        assoc = run.crm.associate("deals", "companies", pairs)
        state.letters += [failure_letter(FLOW_PUSH, "association", f, None) for f in assoc.failed]


def _push_line_items(run: Run, state: _Sales, products: dict[str, str]) -> None:
    """Line items of every deal in the CRM whose lines changed."""
    lines_bound = run.ledger.bindings_for(SYSTEM, LINE_ITEM)
    send: dict[str, dict[str, str]] = {}
    deal_of: dict[str, str] = {}
    for sale in state.sales.values():
        if sale.erp_id not in state.deal_ids:
            continue
        for line in sale.lines:
            key = m.line_item_key(sale, line)
            payload = m.line_item_payload(
                line, products.get(line.product_code), f"{line.product_code} x {line.quantity}"
            )
            b = lines_bound.get(key)
            if b is not None and b.content_hash == m.payload_hash(payload):
                continue
            send[key] = payload
            deal_of[key] = state.deal_ids[sale.erp_id]
    if not send:
        return
    outcome = run.crm.upsert("line_items", send)
    run.counts["line_items_sent"] += len(send)
    pairs = [(ok.crm_id, deal_of[ok.erp_id]) for ok in outcome.succeeded]
    assoc = run.crm.associate("line_items", "deals", pairs) if pairs else None
    unlinked = {f.erp_id for f in assoc.failed} if assoc else set()
    state.rows += [
        BindRow(LINE_ITEM, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
        if ok.crm_id not in unlinked
    ]
    state.letters += [failure_letter(FLOW_PUSH, "line_item", f, None) for f in outcome.failed]


def _push_invoices(run: Run, state: _Sales, invoices: Sequence[Invoice]) -> None:
    """Invoice and payment status onto the deal."""
    inv_bound = run.ledger.bindings_for(SYSTEM, DEAL_INVOICE)
    send: dict[str, dict[str, str]] = {}
    for invoice in invoices:
        invoiced = next(
            (state.by_ref.get((invoice.customer.erp_id or "", r)) for r in invoice.order_numbers),
            None,
        )
        if invoiced is None or invoiced.erp_id not in state.deal_ids:
            state.letters.append(_invoice_letter(invoice, invoiced))
            continue
        payload = m.invoice_payload(invoice)
        b = inv_bound.get(invoiced.erp_id)
        if b is not None and b.content_hash == m.payload_hash(payload):
            continue
        send[invoiced.erp_id] = payload
    state.sent.update({f"invoice:{k}": v for k, v in send.items()})
    if not send:
        return
    outcome = run.crm.upsert("deals", send)
    run.counts["invoice_updates_sent"] += len(send)
    state.rows += [
        BindRow(DEAL_INVOICE, ok.crm_id, ok.erp_id, m.payload_hash(send[ok.erp_id]))
        for ok in outcome.succeeded
    ]
    state.letters += [failure_letter(FLOW_PUSH, "deal", f, None) for f in outcome.failed]


def _deal_events(
    run: Run,
    conn: Any,
    written: Sequence[BindRow],
    sales: dict[str, ErpSale],
    sent: dict[str, dict[str, str]],
) -> None:
    """``crm.deal`` / ``crm.deal.invoice`` trace events, under the order and sale numbers."""
    from hub.ops.events import record_event

    for row in written:
        if row.entity not in (DEAL, DEAL_INVOICE) or (sale := sales.get(row.erp_id)) is None:
            continue
        invoice = row.entity == DEAL_INVOICE
        payload = sent.get(f"invoice:{row.erp_id}" if invoice else row.erp_id) or {}
        numbers = [n for n in (sale.reference, sale.number, sale.erp_id) if n]
        record_event(
            run.ledger,
            ref=numbers[0],
            refs=tuple(numbers[1:]),
            kind="crm.deal.invoice" if invoice else "crm.deal",
            flow=FLOW_PUSH,
            system=SYSTEM,
            state=payload.get("hub_payment_status" if invoice else "dealstage") or "synced",
            detail={
                "deal": row.external_id,
                "sale": sale.number,
                "orders": [sale.reference] if sale.reference else [],
                "sales": [sale.number] if sale.number else [],
                "summary": f"CRM deal {row.external_id} for sale {sale.number or sale.erp_id}"
                + (f" ({payload.get('hub_invoice_number')})" if invoice else ""),
            },
            conn=conn,
        )


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
