"""Buyer's changes and cancellations applied to a Tryton sale, while Tryton allows it.

A new delivery date is the sale's ``shipping_date`` until it is processed, then the planned
date of its waiting shipments (``tryton_amendments.move_shipments``). Tryton edits sale
lines only in draft: a quotation or confirmed sale goes back to draft,
its lines are created/written/deleted by line number (``sequence``), and it is quoted and
confirmed again (Tryton then processes it as a new one). A processing (or done) sale is
amended (``tryton_amendments``) while none of its goods has left; after that the change is
refused (``code="too_late"``). Applying the same change twice changes nothing (an added
line whose number exists is written, a deleted line already gone is skipped, a cancelled
sale stays cancelled, an amendment is made once per change message).
"""

from __future__ import annotations

from typing import Any

from connectors.erp import tryton_adjustments, tryton_amendments, tryton_prices, tryton_sales
from connectors.erp.tryton_records import TrytonRecords
from schemas.errors import PermanentError
from schemas.model import ErpSale, SalesOrderChange, SalesOrderLineChange

SYSTEM = "erp"
CHANGEABLE = ("draft", "quotation", "confirmed")
AMENDABLE = ("processing", "done")


def too_late(sale: str, state: str) -> PermanentError:
    """The change comes after Tryton stopped allowing it."""
    return PermanentError(
        f"sale {sale} is {state} (shipments or invoices are made from it): the change comes "
        "too late; agree it with the customer by phone or a new order",
        system=SYSTEM,
        code="too_late",
    )


def change_sale(records: TrytonRecords, sale_erp_id: str, change: SalesOrderChange) -> ErpSale:
    """Apply ``change`` to the sale and bring it back to the state it had."""
    sale_id = int(sale_erp_id)
    (row,) = records.read(
        "sale.sale", [sale_id], ["state", "party", "currency", "number", "sale_date"]
    )
    state, name = row["state"], row.get("number") or sale_erp_id
    if state == "cancelled" and change.cancel:
        return _sale(records, sale_erp_id)
    when = None if change.cancel else change.requested_delivery_date
    if when is not None and row.get("sale_date") and when < row["sale_date"]:
        raise PermanentError(
            f"sale {name}: the new delivery date {when} is before the sale date "
            f"{row['sale_date']}: nothing was changed; send a date on or after it",
            system=SYSTEM, code="bad_date",
        )  # fmt: skip
    if state in AMENDABLE:
        tryton_amendments.amend_sale(records, sale_id, name, change)
        if when is not None:
            tryton_amendments.move_shipments(records, sale_id, name, when)
        return _sale(records, sale_erp_id)
    if state not in CHANGEABLE:
        raise too_late(name, state)
    rpc = records.rpc
    if when is not None:  # writable until processed, in any of these states
        rpc.model("sale.sale", "write", [sale_id], {"shipping_date": when}, idempotent=True)
    if not change.lines and not change.allowance_charges and not change.cancel:
        return _sale(records, sale_erp_id)  # only the date changed: no need to re-quote
    if state != "draft":
        rpc.model("sale.sale", "draft", [sale_id], idempotent=True)
    if change.cancel:
        rpc.model("sale.sale", "cancel", [sale_id], idempotent=True)
        return _sale(records, sale_erp_id)
    _apply_lines(records, sale_id, row, change.lines)
    tryton_adjustments.rewrite(records, sale_id, change, name)  # the goods' VAT split moved
    if state in ("quotation", "confirmed"):
        rpc.model("sale.sale", "quote", [sale_id], idempotent=False)
    if state == "confirmed":
        rpc.model("sale.sale", "confirm", [sale_id], idempotent=False)
    return _sale(records, sale_erp_id)


def _sale(records: TrytonRecords, sale_erp_id: str) -> ErpSale:
    (sale,) = tryton_sales.get_sales(records, [sale_erp_id])
    return sale


def _apply_lines(
    records: TrytonRecords,
    sale_id: int,
    sale: dict[str, Any],
    changes: tuple[SalesOrderLineChange, ...],
) -> None:
    rpc = records.rpc
    existing = records.search_read("sale.line", [("sale", "=", sale_id)], ["sequence", "product"])
    services = tryton_adjustments.services(records)  # no order line: never matched by number
    by_no = {
        int(r["sequence"] or 0): int(r["id"]) for r in existing if r["product"] not in services
    }
    gone = [by_no[c.line_no] for c in changes if c.action == "delete" and c.line_no in by_no]
    if gone:
        rpc.model("sale.line", "delete", gone, idempotent=True)
    kept = [c for c in changes if c.action != "delete"]
    codes = sorted({c.product_code for c in kept if c.product_code})
    products = records.product_rows_by_code(codes)
    currency = records.read("currency.currency", [sale["currency"]], ["code"])[0]["code"]
    unpriced = [(c.product_code, c.quantity) for c in kept
                if c.unit_price is None and c.product_code and c.quantity]  # fmt: skip
    prices = tryton_prices.customer_prices(records, str(sale["party"]), currency, unpriced)
    for c in kept:
        values: dict[str, Any] = {}
        if c.quantity is not None:
            values["quantity"] = float(c.quantity)
        if c.unit_price is not None:
            values["unit_price"] = tryton_amendments.net_price(c.unit_price, c.discount_percent)
        elif c.line_no not in by_no and c.product_code and c.quantity:
            values["unit_price"] = prices.get((c.product_code, c.quantity))
        if c.line_no in by_no:
            if values:
                rpc.model("sale.line", "write", [by_no[c.line_no]], values, idempotent=True)
            continue
        row = products.get(c.product_code or "")
        if row is None:
            raise PermanentError(
                f"line {c.line_no}: product {c.product_code or c.gtin} is not in the ERP",
                system=SYSTEM, code="unknown_product",
            )  # fmt: skip
        values.update(sale=sale_id, type="line", sequence=c.line_no, product=row.id,
                      unit=row.unit_id, taxes=[("add", list(row.taxes))])  # fmt: skip
        rpc.model("sale.line", "create", [values], idempotent=False)
