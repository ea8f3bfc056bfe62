"""crm_push, sales: every ERP sale from quotation on becomes a CRM deal with line items.

The sales pushed are those the ERP's sales feed reports changed since the ``crm.push.sales``
cursor (however they were entered), those the hub created from EDI orders (its own journal),
those named by ``sale_ids``, those already deals, and those a posted invoice refers to.
Deals are hash-compared on every run, so what is in sync costs nothing. Quotes, delivery
and invoice status on the deal: ``crm_deal_facts.py``. A sale made from a deal won in the
CRM (reference ``CRM-<deal id>``) keeps the deal's own stage and waits for the pull to link
it. A deal written records a ``crm.deal`` trace event in the commit's transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.flows import crm_deal_facts as facts
from hub.flows.crm_merges import refuse_deleted
from hub.flows.crm_run import (
    COMPANY,
    DEAL,
    DEAL_INVOICE,
    DEAL_WON,
    FLOW_PUSH,
    LINE_ITEM,
    QUOTE,
    STREAM_INVOICES,
    STREAM_SALES,
    SYSTEM,
    Run,
    bound,
    commit,
    failure_letter,
)
from hub.ledger.bindings import BindRow
from schemas.model import ErpSale, Invoice
from transforms import crm_mapping as m
from transforms import crm_sales as q
from transforms.keys import KeyKind

_NOW = datetime.min  # an Event's ``at``: the ledger stamps the step when it records it
SALES_FLOW = "edi_orders_inbound"  # the flow whose done sale entries name the hub's sales
SALES_PAGE = 500  # sales per page of deals, line items and quotes


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


def push_sales(run: Run, products: dict[str, str], sale_ids: Iterable[str]) -> None:
    """Deals with line items and quotes, then delivery and invoice status on the deals."""
    cursor = run.cursor(STREAM_INVOICES)
    invoices = [
        i
        for i in run.erp.invoices_posted_since(cursor.read_from, limit=10_000)
        if cursor.in_window(i.updated_at)
    ]
    feed = run.cursor(STREAM_SALES)
    changed = [
        c
        for c in run.erp.sales_changed_since(feed.read_from, limit=10_000)
        if feed.in_window(c.updated_at)
    ]
    state = _read_sales(run, [*sale_ids, *(c.sale.erp_id for c in changed)], invoices)
    state.sales.update({c.sale.erp_id: c.sale for c in changed if c.sale.erp_id in state.sales})
    state.known = {e: bound(run, e) for e in (COMPANY, DEAL_WON, LINE_ITEM, QUOTE)}
    _push_pages(run, state, products)
    facts.push_delivery(run, state)
    facts.push_invoices(run, state, invoices)
    for invoice in sorted(invoices, key=lambda i: (i.updated_at is None, i.updated_at)):
        cursor.passed(invoice.updated_at, invoice.erp_id or "")
    for change in changed:
        feed.passed(change.updated_at, change.sale.erp_id)
    live = run.window is None  # a backfill re-reads its window each time
    commit(
        run, FLOW_PUSH, state.rows, state.letters, cursor if live else None,
        lambda conn, written: _deal_events(run, conn, written, state.sales, state.sent),
    )  # fmt: skip
    if live:
        commit(run, FLOW_PUSH, [], [], feed)


def _push_pages(run: Run, state: facts.Sales, products: dict[str, str]) -> None:
    """Deals, line items and quotes a page of sales at a time, two pages in flight: a page
    is committed (bindings, letters, trace events) while the next ones are being sent, so
    the request budget, not the hub's own work, sets the pace."""
    ids = sorted(state.sales, key=lambda i: (len(i), i))
    pages = [state.page(ids[at : at + SALES_PAGE]) for at in range(0, len(ids), SALES_PAGE)]

    def send(page: facts.Sales, own: Run) -> Counter[str]:
        _push_deals(own, page)
        _push_line_items(own, page, products)
        facts.push_quotes(own, page)
        return own.counts

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="crm-sales") as pool:
        sent = [pool.submit(send, page, replace(run, counts=Counter(), dead=[])) for page in pages]
        for page, future in zip(pages, sent, strict=True):
            run.counts.update(future.result())
            commit(run, FLOW_PUSH, page.rows, page.letters, None, _events_of(run, page))


def _events_of(run: Run, page: facts.Sales) -> Callable[[Any, list[BindRow]], None]:
    """The trace events of a page's deals, written in its commit's transaction."""
    return lambda conn, written: _deal_events(run, conn, written, page.sales, page.sent)


def _read_sales(run: Run, sale_ids: Iterable[str], invoices: list[Invoice]) -> facts.Sales:
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
    return facts.Sales(sales, by_ref, deals, deal_ids)


def _push_deals(run: Run, state: facts.Sales) -> None:
    companies, won = state.known[COMPANY], state.known[DEAL_WON]
    prefix = run.config.won_deals.reference_prefix
    send: dict[str, dict[str, str]] = {}
    hashes: dict[str, str] = {}  # of the whole deal payload, as reconcile computes it
    for sale in state.sales.values():
        payload = m.deal_payload(sale, run.config)
        if payload is None:
            continue
        hashes[sale.erp_id] = m.payload_hash(payload)
        if sale.erp_id in won:  # won in the CRM: its name and stage are the CRM's
            payload = {k: v for k, v in payload.items() if k not in q.WON_DEAL_CRM_OWNED}
        elif sale.reference.startswith(prefix) and sale.erp_id not in state.deals:
            run.counts["deals_link_pending"] += 1  # the pull links it to its CRM deal
            continue
        if sale.party_erp_id not in companies:
            run.counts["deals_waiting_for_company"] += 1
            continue
        b = state.deals.get(sale.erp_id)
        if b is not None and b.content_hash == hashes[sale.erp_id]:
            run.counts["deals_unchanged"] += 1
            continue
        send[sale.erp_id] = payload
    state.letters += refuse_deleted(run, "deals", state.deals, send)
    state.sent.update(send)
    if not send:
        return
    outcome = run.crm.upsert("deals", send)
    run.counts["deals_sent"] += len(send)
    for ok in outcome.succeeded:
        state.deal_ids[ok.erp_id] = ok.crm_id
        state.rows.append(BindRow(DEAL, ok.crm_id, ok.erp_id, hashes[ok.erp_id]))
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


def _push_line_items(run: Run, state: facts.Sales, products: dict[str, str]) -> None:
    """Line items of every deal in the CRM whose lines changed."""
    lines_bound, won = state.known[LINE_ITEM], state.known[DEAL_WON]
    send: dict[str, dict[str, str]] = {}
    deal_of: dict[str, str] = {}
    for sale in state.sales.values():
        if sale.erp_id not in state.deal_ids or sale.erp_id in won:
            continue  # a deal won in the CRM keeps the line items its people entered
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
    what = (LINE_ITEM, "line_item", "line_items")
    facts.link_and_bind(run, state, what, outcome, send, deal_of, only_new=False)


def _deal_events(
    run: Run,
    conn: Any,
    written: Sequence[BindRow],
    sales: dict[str, ErpSale],
    sent: dict[str, dict[str, str]],
) -> None:
    """``crm.deal`` / ``crm.deal.invoice`` trace events, under the order and sale numbers
    (recorded in one batch: a first sync writes thousands)."""
    from hub.ledger.ops_events import Event

    steps: list[tuple[list[str], Event]] = []
    for row in written:
        if row.entity not in (DEAL, DEAL_INVOICE) or (sale := sales.get(row.erp_id)) is None:
            continue
        invoice = row.entity == DEAL_INVOICE
        payload = sent.get(f"invoice:{row.erp_id}" if invoice else row.erp_id) or {}
        # never under the bare ERP id: a sale's id can equal another sale's number
        numbers = [n for n in (sale.reference, sale.number) if n] or [f"sale:{sale.erp_id}"]
        steps.append((numbers, Event(
            ref=numbers[0], kind="crm.deal.invoice" if invoice else "crm.deal", at=_NOW,
            flow=FLOW_PUSH, system=SYSTEM,
            state=payload.get("hub_payment_status" if invoice else "dealstage") or "synced",
            detail={
                "deal": row.external_id,
                "sale": sale.number,
                "orders": [sale.reference] if sale.reference else [],
                "sales": [sale.number] if sale.number else [],
                "summary": f"CRM deal {row.external_id} for sale {sale.number or sale.erp_id}"
                + (f" ({payload.get('hub_invoice_number')})" if invoice else ""),
            },
        )))  # fmt: skip
    run.ledger.record_events(steps, conn=conn)
