"""Invoices on Tryton: posted customer invoices and credit notes, exactly as the ERP computed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from connectors.erp.tryton_records import TrytonRecords
from schemas.model import Invoice
from transforms import erp_tryton as tt
from transforms import erp_tryton_documents as td


def invoices_posted_since(
    records: TrytonRecords, since: dt.datetime | None, *, limit: int = 200
) -> list[Invoice]:
    """Posted or paid customer invoices changed at/after ``since``, oldest first."""
    domain = [
        ("type", "=", "out"),
        ("state", "in", ["posted", "paid"]),
        *tt.changed_domain(since),
    ]
    rows = records.search_read(
        "account.invoice", domain, td.INVOICE_FIELDS, limit=limit, order=tt.CHANGED_ORDER
    )
    lines = [ln for r in rows for ln in tt.nested(r, "lines")]
    origins = records.origins(ln.get("origin") for ln in lines)
    products = records.product_refs({ln["product"] for ln in lines if ln.get("product")})
    customers = records.party_refs({r["party"] for r in rows})
    rates = records.tax_rates(td.invoice_tax_ids(rows))
    company_currency = records.company()["currency"]
    invoices = [
        td.to_invoice(r, customers, products, origins, rates, company_currency) for r in rows
    ]
    invoices = _with_delivery_dates(records, rows, invoices)
    return _with_rates(records, _with_names(records, _with_payment_terms(records, invoices)))


def _with_delivery_dates(
    records: TrytonRecords, rows: list[dict[str, Any]], invoices: list[Invoice]
) -> list[Invoice]:
    """Each invoice with the day its goods were delivered: the latest effective date of the
    done stock moves of the sale lines it invoices (e-invoices carry it as BT-72), one call."""
    origins = {
        str(r["id"]): td.sale_line_ids(ln.get("origin") for ln in tt.nested(r, "lines"))
        for r in rows
    }
    line_ids = sorted({i for ids in origins.values() for i in ids})
    if not line_ids:
        return invoices
    moved: dict[int, list[dt.date]] = {}
    for line in records.read("sale.line", line_ids, ["moves.effective_date", "moves.state"]):
        moved[line["id"]] = [
            m["effective_date"]
            for m in tt.nested(line, "moves")
            if m.get("state") == "done" and m.get("effective_date")
        ]
    out = []
    for invoice in invoices:
        days = [d for i in origins.get(invoice.erp_id, []) for d in moved.get(i, [])]
        out.append(invoice.model_copy(update={"delivery_date": max(days)}) if days else invoice)
    return out


def _with_payment_terms(records: TrytonRecords, invoices: list[Invoice]) -> list[Invoice]:
    """Each invoice with its payment term's name (e-invoices carry it as BT-20), one call."""
    ids = [int(i.erp_id) for i in invoices if i.erp_id.isdigit()]
    if not ids:
        return invoices
    terms = {
        str(r["id"]): (r.get("payment_term.") or {}).get("name")
        for r in records.read("account.invoice", ids, ["payment_term.name"])
    }
    return [
        i.model_copy(update={"payment_terms": terms[i.erp_id]}) if terms.get(i.erp_id) else i
        for i in invoices
    ]


def _with_names(records: TrytonRecords, invoices: list[Invoice]) -> list[Invoice]:
    """Lines without a description get their product's name (an e-invoice's item name,
    BT-153, reads better than a product code), one call per batch."""
    codes = sorted(
        {
            ln.product_code
            for i in invoices
            for ln in i.lines
            if ln.product_code and not ln.description
        }
    )
    if not codes:
        return invoices
    rows = records.search_read("product.product", [("code", "in", codes)], ["code", "name"])
    names = {r["code"]: r["name"] for r in rows if r.get("name")}

    def named(invoice: Invoice) -> Invoice:
        lines = tuple(
            ln.model_copy(update={"description": names[ln.product_code]})
            if not ln.description and ln.product_code in names
            else ln
            for ln in invoice.lines
        )
        return invoice.model_copy(update={"lines": lines})

    return [named(i) for i in invoices]


def _with_rates(records: TrytonRecords, invoices: list[Invoice]) -> list[Invoice]:
    """An invoice in another currency than the company's gets the exchange rate of its date
    (units of its currency per unit of the company's, as Tryton converts), one read per date."""
    foreign = [i for i in invoices if i.company_currency and i.currency != i.company_currency]
    if not foreign:
        return invoices
    codes = sorted({i.currency for i in foreign} | {i.company_currency or "" for i in foreign})
    ids = records.currency_ids(set(codes))
    rates: dict[tuple[str, dt.date], Decimal] = {}
    for day in sorted({i.invoice_date for i in foreign}):
        rows = records.rpc.model(
            "currency.currency", "read", sorted(ids.values()), ["code", "rate"],
            idempotent=True, context={"date": day},
        )  # fmt: skip
        rates.update({(r["code"], day): Decimal(str(r["rate"])) for r in rows if r.get("rate")})

    def rated(invoice: Invoice) -> Invoice:
        own = rates.get((invoice.currency, invoice.invoice_date))
        base = rates.get((invoice.company_currency or "", invoice.invoice_date))
        if not own or not base or invoice.currency_rate is not None:
            return invoice
        return invoice.model_copy(
            update={"currency_rate": (own / base).quantize(Decimal("0.000001"))}
        )

    return [rated(i) if i in foreign else i for i in invoices]
